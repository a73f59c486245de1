"""Wasserstein GAN with weight clipping."""

import tensorflow as tf

from zoo import checks
from zoo.gan.critic import CriticBase
from zoo.registry import base_arguments, register


@register("wgan")
class WGAN(CriticBase):
    """Wasserstein GAN (Arjovsky et al. 2017).

    The critic f maximizes E[f(x)] - E[f(G(z))], an estimate of the
    Wasserstein-1 distance when f is K-Lipschitz; the Lipschitz constraint
    is enforced crudely by clipping every critic weight to
    [-clip_value, clip_value] after each critic update. `n_critic` critic
    updates per generator update, each on a fresh real minibatch, and
    RMSProp with learning rate 5e-5 ([1], Algorithm 1).

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

    # Momentum-based optimizers destabilized the critic in [1] (sec. 3).
    optimizer_defaults = {name: ("RMSprop", {"learning_rate": 5e-5})
                          for name in ("d_optimizer", "g_optimizer")}

    def __init__(self, image_shape=(8, 8, 1), latent_dim=64, architecture="dcgan",
                 hidden_units=(256, 256), filters=(64, 128), n_critic=5,
                 clip_value=0.01, ema_decay=None, seed=None, **kwargs):
        super().__init__(**base_arguments(CriticBase, locals()))
        self.clip_value = checks.positive_float("clip_value", clip_value)

    def _after_init(self):
        super()._after_init()
        # Start inside the box, as every later step ends there.
        self._after_d_step()

    def _after_d_step(self):
        # Clip every critic parameter ([1], Algorithm 1, line 7).
        for w in self.discriminator.trainable_variables:
            w.assign(tf.clip_by_value(w, -self.clip_value, self.clip_value))
