"""Wasserstein GAN with gradient penalty."""

import keras
import tensorflow as tf

from zoo.errors import ConfigError
from zoo.gan.base import GANBase
from zoo.gan.wgan import WGAN
from zoo.losses import gradient_penalty
from zoo.registry import register


@register("wgan_gp")
class WGANGP(WGAN):
    """WGAN-GP (Gulrajani et al. 2017): the Lipschitz constraint as a penalty.

    Critic loss E[f(G(z))] - E[f(x)] + lambda E[(||grad f(x_hat)||_2 - 1)^2]
    with x_hat uniformly on lines between real and generated samples
    ([1], eq. 3; `zoo.losses.gradient_penalty`). The critic has no batchnorm,
    which would make each score depend on the batch; layer normalization
    replaces it ([1], sec. 4). Adam(1e-4, beta_1=0, beta_2=0.9), n_critic=5,
    lambda=10 ([1], Algorithm 1).

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

    @property
    def discriminator_norm(self):
        # Layer norm between conv stages ([1], sec. 4); [1]'s toy MLP critics
        # have none.
        return "layer" if self.architecture == "dcgan" else None

    extra_metrics = ("gp",)
    adam = (1e-4, 0.0, 0.9)

    def __init__(self, image_shape=(8, 8, 1), latent_dim=64, architecture="dcgan",
                 hidden_units=(256, 256), filters=(64, 128), n_critic=5,
                 gp_weight=10.0, ema_decay=None, seed=None, **kwargs):
        try:
            gp_weight = float(gp_weight)
        except (TypeError, ValueError):
            raise ConfigError(f"gp_weight must be a number >= 0, got {gp_weight!r}") from None
        if not gp_weight >= 0:
            raise ConfigError(f"gp_weight must be a number >= 0, got {gp_weight!r}")
        self.gp_weight = gp_weight
        # No clipping: WGAN's box is replaced by the penalty.
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         architecture=architecture, hidden_units=hidden_units,
                         filters=filters, n_critic=n_critic, clip_value=1.0,
                         ema_decay=ema_decay, seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("clip_value")
        config.update(gp_weight=self.gp_weight)
        return config

    def make_optimizers(self, learning_rate=None):
        # Adam again (not WGAN's RMSProp), with [1]'s betas from `adam`.
        return GANBase.make_optimizers(self, learning_rate)

    def _after_d_step(self):
        pass

    def _discriminator_loss(self, real, labels, z, training):
        fake = self._g(z, labels, training=training)
        real_out = self._d(real, labels, training=training)
        fake_out = self._d(fake, labels, training=training)
        eps = keras.random.uniform((tf.shape(real)[0],), seed=self.seed_generator)
        gp = gradient_penalty(lambda x: self._d(x, labels, training=training),
                              real, fake, eps)
        loss = tf.reduce_mean(fake_out) - tf.reduce_mean(real_out) + self.gp_weight * gp
        return loss, {"d_real": tf.reduce_mean(real_out),
                      "d_fake": tf.reduce_mean(fake_out), "gp": gp}

