"""Conditional GAN."""

from zoo import checks
from zoo.gan.base import GANBase
from zoo.registry import base_arguments, register


@register("cgan")
class CGAN(GANBase):
    """Conditional GAN (Mirza & Osindero 2014).

    Both players see the class label y: G(z, y) and D(x, y), trained on the
    GAN objective conditioned on y ([1], eq. 2). The label enters as a
    one-hot vector concatenated to z and to the flattened image (MLP), or as
    one-hot planes stacked on the image channels (DCGAN). Needs a labelled
    dataset; `sample(n, seed, labels)` and the exports take labels.

    Args:
      image_shape: (H, W, C).
      num_classes: number of classes (>= 2).
      latent_dim: size of z ~ N(0, I).
      architecture: "mlp" ([1]) or "dcgan".
      hidden_units: MLP widths (architecture="mlp").
      filters: DCGAN channels per stage (architecture="dcgan").
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Mirza, Osindero. Conditional Generative Adversarial Nets.
          arXiv:1411.1784, 2014.
    """

    discriminator_takes_labels = True
    discriminator_norm = None

    def __init__(self, image_shape=(8, 8, 1), num_classes=10, latent_dim=32,
                 architecture="mlp", hidden_units=(256, 256), filters=(64, 128),
                 ema_decay=None, seed=None, **kwargs):
        self.num_classes = checks.int_at_least("num_classes", num_classes, 2)
        super().__init__(**base_arguments(GANBase, locals()))
