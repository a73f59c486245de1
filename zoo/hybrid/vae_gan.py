"""VAE-GAN: a VAE whose decoder is a GAN generator and whose reconstruction
error is measured in the discriminator's features."""

import keras
import tensorflow as tf

from zoo import checks
from zoo.distributions import diagonal_gaussian, make_prior
from zoo.gan import networks
from zoo.gan.base import GANBase, adam_optimizers, to_symmetric
from zoo.losses import kl_divergence
from zoo.registry import base_arguments, register


@register("vae_gan")
class VAEGAN(GANBase):
    """VAE/GAN ([1]): encoder q(z|x), decoder = generator G, discriminator D.

    The pixel-wise reconstruction term of a VAE is replaced by a Gaussian
    log-likelihood of D's l-th layer features, L_llike = 1/2 ||D_l(x) -
    D_l(G(z))||^2 with z ~ q(z|x) ([1], eq. 7). The paper's three
    optimizers ([1], algorithm 1) map onto the GAN base's steps:

    - `d_step` (d_optimizer): L_GAN on x (real), G(z) with z ~ q(z|x) and
      G(z_p) with z_p ~ p(z) (both fake) ([1], eq. 8-9);
    - `g_step` updates the decoder (g_optimizer) on  gamma * L_llike  plus
      the non-saturating generator loss of both fakes, and the encoder
      (e_optimizer) on  KL(q(z|x) || p(z)) + L_llike,  from one forward
      pass; D is only read.

    Samples are G(z) for z ~ N(0, I) from the seed rows; `encode` gives
    q(z|x) (a distribution, as for the VAEs), `decode` G(z) and
    `reconstruct` G(E[z|x]). The decoder is implicit, so there is no
    `log_prob`.

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z.
      gamma: weight of the feature reconstruction in the decoder's loss
        ([1], sec. 2.2).
      architecture: "mlp" or "dcgan" ([1] uses convolutional networks).
      hidden_units, filters: network sizes (see `GANBase`).
      ema_decay: None or (0, 1): EMA of the decoder's weights for samples.
      seed: seeds training randomness.

    References:
      [1] Larsen, Sonderby, Larochelle, Winther. Autoencoding beyond pixels
          using a learned similarity metric. ICML 2016.
    """

    discriminator_features = True
    discriminator_norm = None
    # D's features of x are the reconstruction target in the G step too.
    generator_reads_real = True
    metric_names = GANBase.metric_names + ("e_loss", "kl", "feature_error")
    optimizer_defaults = {**adam_optimizers(2e-4, 0.5, 0.999),
                          "e_optimizer": ("Adam", {"learning_rate": 2e-4, "beta_1": 0.5,
                                                   "beta_2": 0.999})}

    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, gamma=0.1,
                 architecture="dcgan", hidden_units=(256, 256), filters=(32, 64),
                 ema_decay=None, seed=None, **kwargs):
        super().__init__(**base_arguments(GANBase, locals()))
        self.gamma = checks.non_negative_float("gamma", gamma)
        self.prior = make_prior("normal", self.latent_dim)
        if self.architecture == "mlp":
            self.encoder = networks.mlp_discriminator(
                self.image_shape, self.hidden_units, 2 * self.latent_dim,
                normalization=None, name="encoder")
        else:
            self.encoder = networks.conv_discriminator(
                self.image_shape, self.filters, 2 * self.latent_dim, normalization=None,
                name="encoder")

    # --------------------------------------------------------------- surface
    def posterior(self, images):
        """q(z|x) for validated images in [0, 1]: batch [N], event [latent_dim]."""
        return self._posterior(to_symmetric(images))

    def _posterior(self, x, training=False):
        mean, log_var = tf.split(self.encoder(x, training=training), 2, axis=-1)
        return diagonal_gaussian(mean, log_var)

    def _encode(self, images):
        return self.posterior(images)

    def _decode(self, z):
        return self._generate(z)

    def _reconstruct(self, images):
        return self._decode(self.posterior(images).mean())

    # -------------------------------------------------------------- training
    def _forward(self, real, labels, training, with_real=True):
        p = super()._forward(real, labels, training, with_real)
        q = self._posterior(real, training)
        eps = self.training_noise(
            lambda n, seed: tf.random.stateless_normal([n, self.latent_dim], seed=seed),
            tf.shape(real)[0])
        z = q.mean() + q.stddev() * eps
        p.kl = kl_divergence(q, self.prior)
        p.recon_out = self._d(self._g(z, labels, training=training), labels, training)
        p.feature_error = 0.5 * tf.reduce_sum(
            tf.square(tf.cast(p.real_out[:, 1:] - p.recon_out[:, 1:], tf.float32)), -1)
        return p

    def _discriminator_terms(self, p):
        terms = super()._discriminator_terms(p)
        terms["d_loss"] = terms["d_loss"] + tf.nn.softplus(p.recon_out[:, 0])
        return terms

    def _generator_terms(self, p):
        adversarial = (self.generator_loss(p.fake_out[:, 0])
                       + self.generator_loss(p.recon_out[:, 0]))
        return {"g_loss": self.gamma * p.feature_error + adversarial,
                "e_loss": p.kl + p.feature_error, "kl": p.kl,
                "feature_error": p.feature_error}

    def g_step(self, real, labels=None):
        """One decoder update and one encoder update from one forward pass."""
        with tf.GradientTape(persistent=True) as tape:
            terms = self._float32(self._generator_terms(
                self._forward(real, labels, training=True, with_real=True)))
            g_scaled = self.g_optimizer.scale_loss(self.objective(terms["g_loss"]))
            e_scaled = self.e_optimizer.scale_loss(self.objective(terms["e_loss"]))
        self.minimize(self.g_optimizer, g_scaled, self.g_variables, tape)
        self.minimize(self.e_optimizer, e_scaled, self.encoder.trainable_variables, tape)
        del tape
        self._update_ema()
        return terms

    # ------------------------------------------------------------ optimizers
    def compile(self, e_optimizer=None, **kwargs):
        """`GANBase.compile` plus the encoder's optimizer (default: Adam)."""
        super().compile(**kwargs)
        e_optimizer = self.make_optimizers()["e_optimizer"] if e_optimizer is None \
            else keras.optimizers.get(e_optimizer)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
                e_optimizer, keras.optimizers.LossScaleOptimizer):
            e_optimizer = keras.optimizers.LossScaleOptimizer(e_optimizer)
        self.e_optimizer = e_optimizer
        e_optimizer.build(self.encoder.trainable_variables)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None:
            config["e_optimizer"] = keras.saving.serialize_keras_object(self.e_optimizer)
        return config

    def compile_from_config(self, config):
        config = dict(config)
        if "e_optimizer" in config:
            config["e_optimizer"] = keras.saving.deserialize_keras_object(
                config["e_optimizer"])
        super().compile_from_config(config)

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        image_spec = self.image_spec()

        def encode(images):
            q = self.posterior(self.check_images(images))
            return {"mean": q.mean(), "log_var": 2.0 * tf.math.log(q.stddev())}

        endpoints.update(
            encode=(encode, [image_spec]),
            decode=(lambda z: {"images": self._decode(z)}, [self.z_spec()]),
            reconstruct=(lambda images: {
                "images": self._reconstruct(self.check_images(images))}, [image_spec]),
        )
        return endpoints
