"""The critic base that WGAN and WGAN-GP share: the Wasserstein losses.

References:
  [1] Arjovsky, Chintala, Bottou. Wasserstein GAN. ICML 2017.
"""

from zoo import checks, losses
from zoo.gan.base import GANBase


class CriticBase(GANBase):
    """A GAN whose discriminator is a critic f estimating the Wasserstein-1
    distance E[f(x)] - E[f(G(z))] ([1], eq. 3) under a Lipschitz constraint
    that each subclass enforces its own way; `n_critic` critic updates per
    generator update.

    Args: those of `GANBase`, and
      n_critic: critic updates per generator update (>= 1).
    """

    score_name = "critic"
    discriminator_loss = staticmethod(losses.wasserstein_critic)
    generator_loss = staticmethod(losses.wasserstein_generator)
    score = staticmethod(losses.identity)
    # E[f(x)] - E[f(G(z))] does not change when a constant is added to f, so
    # a bias on the head would get no gradient.
    discriminator_bias = False

    def __init__(self, image_shape, latent_dim, n_critic=5, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim, **kwargs)
        self.n_critic = self.d_steps = checks.positive_int("n_critic", n_critic)
