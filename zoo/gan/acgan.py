"""Auxiliary classifier GAN."""

from zoo import checks, losses
from zoo.gan.base import GANBase
from zoo.registry import base_arguments, register


@register("acgan")
class ACGAN(GANBase):
    """AC-GAN (Odena, Olah & Shlens 2017).

    G(z, c) is class-conditional; D sees only the image and has two heads:
    the source logit (real/fake) and class logits. D maximizes L_S + L_C,
    G maximizes L_C - L_S ([1], eqs. 2-3), i.e. here G minimizes the
    non-saturating source loss plus the class cross-entropy of its samples,
    and D the source loss plus the class cross-entropy of real and
    generated images.

    Args:
      image_shape: (H, W, C).
      num_classes: number of classes (>= 2).
      latent_dim: size of z ~ N(0, I).
      architecture: "dcgan" ([1]) or "mlp".
      hidden_units: MLP widths (architecture="mlp").
      filters: DCGAN channels per stage (architecture="dcgan").
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Odena, Olah, Shlens. Conditional Image Synthesis with Auxiliary
          Classifier GANs. ICML 2017.
    """

    metric_names = GANBase.metric_names + ("class_loss", "class_accuracy")

    def __init__(self, image_shape=(8, 8, 1), num_classes=10, latent_dim=64,
                 architecture="dcgan", hidden_units=(256, 256), filters=(64, 128),
                 ema_decay=None, seed=None, **kwargs):
        self.num_classes = checks.int_at_least("num_classes", num_classes, 2)
        self.discriminator_outputs = 1 + self.num_classes
        super().__init__(**base_arguments(GANBase, locals()))

    def _discriminator_terms(self, p):
        terms = super()._discriminator_terms(p)
        class_loss = (losses.class_cross_entropy(p.real_out[:, 1:], p.labels)
                      + losses.class_cross_entropy(p.fake_out[:, 1:], p.labels))
        terms["d_loss"] = terms["d_loss"] + class_loss
        terms.update(class_loss=class_loss,
                     class_accuracy=losses.accuracy(p.real_out[:, 1:], p.labels))
        return terms

    def _generator_terms(self, p):
        terms = super()._generator_terms(p)
        terms["g_loss"] = terms["g_loss"] + losses.class_cross_entropy(
            p.fake_out[:, 1:], p.labels)
        return terms

    def _discriminate(self, images, labels=None):
        out = self._d(2.0 * images - 1.0)
        return {"logits": out[:, 0], "class_logits": out[:, 1:]}
