"""Wasserstein GAN with gradient penalty."""

import tensorflow as tf

from zoo import checks, losses
from zoo.gan.base import adam_optimizers
from zoo.gan.critic import CriticBase
from zoo.registry import base_arguments, register


@register("wgan_gp")
class WGANGP(CriticBase):
    """WGAN-GP (Gulrajani et al. 2017): the Lipschitz constraint as a penalty.

    Critic loss E[f(G(z))] - E[f(x)] + lambda E[(||grad f(x_hat)||_2 - 1)^2]
    with x_hat uniformly on lines between real and generated samples, one
    eps per sample and the norm over the whole sample ([1], eq. 3;
    `zoo.losses.gradient_penalty`). The critic has no batchnorm, which would
    make each score depend on the batch; layer normalization of each sample
    over (H, W, C) replaces it ([1], sec. 4). Adam(1e-4, beta_1=0,
    beta_2=0.9), n_critic=5 on fresh real minibatches, lambda=10 ([1],
    Algorithm 1).

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z ~ N(0, I).
      architecture: "dcgan" or "mlp".
      hidden_units: MLP widths (architecture="mlp").
      filters: DCGAN channels per stage (architecture="dcgan").
      n_critic: critic updates per generator update (>= 1).
      gp_weight: lambda >= 0.
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Gulrajani et al. Improved Training of Wasserstein GANs. NeurIPS 2017.
    """

    metric_names = CriticBase.metric_names + ("gp",)
    optimizer_defaults = adam_optimizers(1e-4, 0.0, 0.9)

    @property
    def discriminator_norm(self):
        # Layer norm between conv stages ([1], sec. 4); [1]'s toy MLP critics
        # have none.
        return "layer" if self.architecture == "dcgan" else None

    def __init__(self, image_shape=(8, 8, 1), latent_dim=64, architecture="dcgan",
                 hidden_units=(256, 256), filters=(64, 128), n_critic=5,
                 gp_weight=10.0, ema_decay=None, seed=None, **kwargs):
        super().__init__(**base_arguments(CriticBase, locals()))
        self.gp_weight = checks.non_negative_float("gp_weight", gp_weight)

    def _discriminator_terms(self, p):
        terms = super()._discriminator_terms(p)
        eps = self._penalty_eps(tf.shape(p.real_input)[0])
        gp = losses.gradient_penalty(lambda x: self._d(x, p.labels, p.training),
                                     p.real_input, p.fake_input, eps)
        terms["d_loss"] = terms["d_loss"] + self.gp_weight * gp
        terms["gp"] = gp
        return terms

    def _penalty_eps(self, n):
        """eps ~ U(0, 1), one per sample, for the points x_hat ([1], Algorithm 1)."""
        return self.training_noise(lambda m, seed: tf.random.stateless_uniform([m], seed), n)
