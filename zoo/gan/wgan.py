"""Wasserstein GAN with weight clipping."""

import keras
import tensorflow as tf

from zoo.errors import ConfigError
from zoo.gan.base import GANBase, check_steps
from zoo.registry import register


@register("wgan")
class WGAN(GANBase):
    """Wasserstein GAN (Arjovsky et al. 2017).

    The critic f maximizes E[f(x)] - E[f(G(z))], an estimate of the
    Wasserstein-1 distance when f is K-Lipschitz; the Lipschitz constraint
    is enforced crudely by clipping every critic weight to
    [-clip_value, clip_value] after each critic update. `n_critic` critic
    updates per generator update, RMSProp with learning rate 5e-5 ([1],
    Algorithm 1).

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z ~ N(0, I).
      architecture: "dcgan" (the critic keeps batchnorm as in [1]) or "mlp".
      hidden_units: MLP widths (architecture="mlp").
      filters: DCGAN channels per stage (architecture="dcgan").
      n_critic: critic updates per generator update (>= 1).
      clip_value: c > 0 of the clipping box.
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Arjovsky, Chintala, Bottou. Wasserstein GAN. ICML 2017.
    """

    score_name = "critic"
    # E[f(x)] - E[f(G(z))] does not change when a constant is added to f, so
    # a bias on the head would get no gradient.
    discriminator_bias = False
    learning_rate = 5e-5

    def __init__(self, image_shape=(8, 8, 1), latent_dim=64, architecture="dcgan",
                 hidden_units=(256, 256), filters=(64, 128), n_critic=5,
                 clip_value=0.01, ema_decay=None, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         architecture=architecture, hidden_units=hidden_units,
                         filters=filters, ema_decay=ema_decay, seed=seed, **kwargs)
        self.n_critic = self.d_steps = check_steps("n_critic", n_critic)
        try:
            self.clip_value = float(clip_value)
        except (TypeError, ValueError):
            raise ConfigError(f"clip_value must be a positive number, got {clip_value!r}") from None
        if not self.clip_value > 0:
            raise ConfigError(f"clip_value must be a positive number, got {clip_value!r}")
        self._build_networks()
        # Start inside the box, as every later step ends there.
        self._after_d_step()

    def get_config(self):
        config = super().get_config()
        config.update(n_critic=self.n_critic, clip_value=self.clip_value)
        return config

    def make_optimizers(self, learning_rate=None):
        # Momentum-based optimizers destabilized the critic in [1] (sec. 3).
        return {name: keras.optimizers.RMSprop(learning_rate or self.learning_rate)
                for name in ("d_optimizer", "g_optimizer")}

    def _score(self, outputs):
        return outputs

    def _discriminator_loss(self, real, labels, z, training):
        fake = self._g(z, labels, training=training)
        real_out = self._d(real, labels, training=training)
        fake_out = self._d(fake, labels, training=training)
        loss = tf.reduce_mean(fake_out) - tf.reduce_mean(real_out)
        return loss, {"d_real": tf.reduce_mean(real_out),
                      "d_fake": tf.reduce_mean(fake_out)}

    def _generator_loss(self, real, labels, z, training):
        fake_out = self._d(self._g(z, labels, training=training), labels, training=training)
        return -tf.reduce_mean(fake_out), {}

    def _after_d_step(self):
        # Clip every critic parameter ([1], Algorithm 1, line 7).
        for w in self.discriminator.trainable_variables:
            w.assign(tf.clip_by_value(w, -self.clip_value, self.clip_value))
