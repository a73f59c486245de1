"""pix2pix: a conditional GAN with a U-Net generator and a PatchGAN."""

import tensorflow as tf

from zoo import checks, losses
from zoo.gan.base import GANBase, to_symmetric
from zoo.registry import register
from zoo.translation import networks
from zoo.translation.base import Translation


@register("pix2pix")
class Pix2Pix(Translation, GANBase):
    """pix2pix ([1]): G(x) is a U-Net, D(x, y) a PatchGAN on source and
    target stacked on the channels.

    D: -log D(x, y) - log(1 - D(x, G(x))) averaged over its patches; G: the
    non-saturating -log D(x, G(x)) + lambda ||y - G(x)||_1 with lambda = 100
    ([1], eq. 4; L1 on the [-1, 1] scale). The noise is dropout in the
    U-Net's inner decoder levels during training ([1], sec. 3.1); the served
    translation is deterministic. The PatchGAN's receptive field with
    `patch_layers` stride-2 layers is `networks.patch_receptive_field`: 16
    pixels for 1 layer (the whole of an 8x8 digit), 34 for 2 (most of a 28x28
    image), 70 for the paper's 3.

    Args:
      image_shape: (H, W, C) of targets.
      source_shape: (H, W, C') of sources (same H, W).
      filters: channels of the U-Net's levels.
      patch_layers: stride-2 layers of the PatchGAN (its channels: filters).
      l1_weight: lambda.
      adversarial_weight: weight of G's adversarial term; 0 gives the
        L1-only U-Net that [1] compares against (table 1).
      dropout: the U-Net's dropout rate.
      ema_decay: None or (0, 1): EMA of the generator for translations.
      seed: seeds dropout.

    References:
      [1] Isola, Zhu, Zhou, Efros. Image-to-Image Translation with Conditional
          Adversarial Networks. CVPR 2017.
    """

    example_task = "task:edges(digits)"
    metric_names = GANBase.metric_names + ("l1",)

    def __init__(self, image_shape=(8, 8, 1), source_shape=(8, 8, 1), filters=(32, 64),
                 patch_layers=1, l1_weight=100.0, adversarial_weight=1.0, dropout=0.5,
                 ema_decay=None, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=1, architecture="dcgan",
                         filters=filters, ema_decay=ema_decay, seed=seed, **kwargs)
        self.source_shape = checks.image_shape(source_shape)
        if self.source_shape[:2] != self.image_shape[:2]:
            raise checks.ConfigError(f"pix2pix maps images of one size: source "
                                     f"{self.source_shape} vs target {self.image_shape}")
        self.patch_layers = checks.int_in_range("patch_layers", patch_layers, 1,
                                                len(self.filters))
        self.l1_weight = checks.non_negative_float("l1_weight", l1_weight)
        self.adversarial_weight = checks.non_negative_float("adversarial_weight",
                                                            adversarial_weight)
        self.dropout = checks.number("dropout", dropout, 0.0, 1.0, high_open=True)

    @property
    def jitter(self):
        return True

    def _build_generator(self, name):
        return networks.unet_generator(self.source_shape, self.image_shape[-1], self.filters,
                                       self.dropout, self.seed, name=name)

    def _build_discriminator(self):
        shape = self.image_shape[:2] + (self.source_shape[-1] + self.image_shape[-1],)
        return networks.patch_discriminator(shape, self.filters[:self.patch_layers])

    def _discriminator_inputs(self, real, labels, z, training):
        source = to_symmetric(labels)
        fake = self.generator(source, training=training)
        return (tf.concat([source, real], -1), tf.concat([source, fake], -1))

    def _d(self, x, labels=None, training=False):
        return self.discriminator(x, training=training)

    def _discriminator_terms(self, p):
        return {"d_loss": _patch_mean(losses.gan_discriminator(p.real_out, p.fake_out)),
                "d_real": _patch_mean(tf.sigmoid(p.real_out)),
                "d_fake": _patch_mean(tf.sigmoid(p.fake_out))}

    def _generator_terms(self, p):
        fake = p.fake_input[..., self.source_shape[-1]:]
        l1 = tf.reduce_mean(tf.abs(fake - p.real), [1, 2, 3])
        adversarial = _patch_mean(losses.non_saturating_generator(p.fake_out))
        return {"g_loss": self.adversarial_weight * adversarial + self.l1_weight * l1,
                "l1": l1}


def _patch_mean(values):
    """Per-image mean over the patch grid [N, h, w, 1] -> [N]."""
    return tf.reduce_mean(tf.cast(values, tf.float32), [1, 2, 3])
