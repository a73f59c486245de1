"""Deep convolutional GAN."""

from zoo.gan.base import GANBase
from zoo.registry import register


@register("dcgan")
class DCGAN(GANBase):
    """DCGAN (Radford et al. 2016) with the paper's architecture guidelines.

    Strided convolutions in the discriminator and transposed convolutions in
    the generator instead of pooling; batchnorm in both (not on the
    discriminator's first layer nor the generator's output); ReLU in the
    generator with a tanh output; LeakyReLU(0.2) in the discriminator; Adam
    with learning rate 2e-4 and beta_1 = 0.5 ([1], sec. 3-4). Trained with
    the non-saturating GAN loss.

    Args:
      image_shape: (H, W, C); any size (the generator crops).
      latent_dim: size of z ~ N(0, I) ([1] uses 100).
      filters: discriminator channels per stride-2 stage, reversed in the generator.
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Radford, Metz, Chintala. Unsupervised Representation Learning with
          Deep Convolutional GANs. ICLR 2016.
    """

    def __init__(self, image_shape=(8, 8, 1), latent_dim=100, filters=(64, 128),
                 ema_decay=None, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         architecture="dcgan", filters=filters, ema_decay=ema_decay,
                         seed=seed, **kwargs)
