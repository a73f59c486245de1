"""The original GAN with fully connected players."""

import tensorflow as tf

from zoo.errors import ConfigError
from zoo.gan.base import GANBase, check_steps, non_saturating_generator_loss
from zoo.registry import register

GENERATOR_LOSSES = ("non_saturating", "minimax")


@register("gan")
class GAN(GANBase):
    """Generative adversarial net with MLP generator and discriminator (Goodfellow et al. 2014).

    D maximizes log D(x) + log(1 - D(G(z))) ([1], eq. 1). G minimizes either
    the minimax objective log(1 - D(G(z))), which saturates early in training
    when D rejects every sample, or the non-saturating -log D(G(z)) that [1]
    (sec. 3) recommends. Each training step makes `k` discriminator updates,
    then one generator update ([1], Algorithm 1).

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z ~ N(0, I).
      hidden_units: generator widths; the discriminator uses them reversed.
      generator_loss: "non_saturating" or "minimax".
      k: discriminator updates per generator update (>= 1).
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014.
    """

    discriminator_norm = None

    def __init__(self, image_shape=(8, 8, 1), latent_dim=32, hidden_units=(256, 256),
                 generator_loss="non_saturating", k=1, ema_decay=None, seed=None,
                 **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         architecture="mlp", hidden_units=hidden_units,
                         filters=(1,), ema_decay=ema_decay, seed=seed, **kwargs)
        if generator_loss not in GENERATOR_LOSSES:
            raise ConfigError(f"generator_loss must be one of {GENERATOR_LOSSES}, "
                              f"got {generator_loss!r}")
        self.generator_loss = generator_loss
        self.k = self.d_steps = check_steps("k", k)
        self._build_networks()

    def get_config(self):
        config = super().get_config()
        for key in ("architecture", "filters"):
            config.pop(key)
        config.update(generator_loss=self.generator_loss, k=self.k)
        return config

    def _generator_loss(self, real, labels, z, training):
        fake_logits = self._d(self._g(z, labels, training=training), labels,
                              training=training)[:, :1]
        if self.generator_loss == "minimax":
            # log(1 - sigmoid(l)) = -softplus(l).
            return -tf.reduce_mean(tf.nn.softplus(fake_logits)), {}
        return non_saturating_generator_loss(fake_logits), {}
