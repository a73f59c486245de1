"""GAN with a spectrally normalized discriminator and the hinge loss."""

from zoo import checks, losses
from zoo.gan.base import GANBase
from zoo.registry import base_arguments, register


@register("sngan")
class SNGAN(GANBase):
    """SN-GAN (Miyato et al. 2018) with the hinge loss (Lim & Ye 2017).

    Every kernel of the discriminator is divided by its largest singular
    value, estimated by one power-iteration step per update with a
    persistent vector per layer (`zoo.layers.SpectralNormalization`), which
    bounds the discriminator's Lipschitz constant by 1 without a penalty
    or weight clipping ([1], sec. 2). No other normalization in D. Losses
    ([2], as in [1]):
      D: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))],   G: -E[D(G(z))].

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z ~ N(0, I) ([1] uses 128).
      architecture: "dcgan" (the standard CNN of [1] in spirit) or "mlp".
      hidden_units: MLP widths (architecture="mlp").
      filters: DCGAN channels per stage (architecture="dcgan").
      n_dis: discriminator updates per generator update (>= 1).
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Miyato, Kataoka, Koyama, Yoshida. Spectral Normalization for
          Generative Adversarial Networks. ICLR 2018.
      [2] Lim, Ye. Geometric GAN. arXiv:1705.02894, 2017.
    """

    score_name = "score"
    discriminator_loss = staticmethod(losses.hinge_discriminator)
    generator_loss = staticmethod(losses.wasserstein_generator)
    score = staticmethod(losses.identity)
    discriminator_norm = None
    spectral_norm = True
    # Spectral normalization keeps early scores inside the hinge's margin,
    # where the loss is linear in them and a head bias gets zero gradient.
    discriminator_bias = False

    def __init__(self, image_shape=(8, 8, 1), latent_dim=64, architecture="dcgan",
                 hidden_units=(256, 256), filters=(64, 128), n_dis=1, ema_decay=None,
                 seed=None, **kwargs):
        super().__init__(**base_arguments(GANBase, locals()))
        self.n_dis = self.d_steps = checks.positive_int("n_dis", n_dis)
