"""Least squares GAN."""

from zoo import losses
from zoo.gan.base import GANBase
from zoo.registry import base_arguments, register


@register("lsgan")
class LSGAN(GANBase):
    """Least squares GAN (Mao et al. 2017).

    The sigmoid cross-entropy is replaced by least squares with the 0-1
    coding a = 0 (fake), b = 1 (real), c = 1 ([1], eq. 9):
      D: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2],   G: 1/2 E[(D(G(z)) - 1)^2],
    which keeps penalizing fakes that lie far from the data on the correct
    side of the boundary, so gradients do not vanish ([1], sec. 3.2).

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z ~ N(0, I).
      architecture: "dcgan" or "mlp".
      hidden_units: MLP widths (architecture="mlp").
      filters: DCGAN channels per stage (architecture="dcgan").
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Mao et al. Least Squares Generative Adversarial Networks. ICCV 2017.
    """

    score_name = "score"
    discriminator_loss = staticmethod(losses.least_squares_discriminator)
    generator_loss = staticmethod(losses.least_squares_generator)
    score = staticmethod(losses.identity)

    def __init__(self, image_shape=(8, 8, 1), latent_dim=64, architecture="dcgan",
                 hidden_units=(256, 256), filters=(64, 128), ema_decay=None,
                 seed=None, **kwargs):
        super().__init__(**base_arguments(GANBase, locals()))
