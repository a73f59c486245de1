"""InfoGAN: interpretable codes by maximizing mutual information."""

import keras
import numpy as np
import tensorflow as tf

from zoo.checks import positive_int
from zoo.errors import ConfigError, InputError
from zoo.gan.base import (GANBase, bce_discriminator_loss,
                          non_saturating_generator_loss, to_unit)
from zoo.registry import register


@register("infogan")
class InfoGAN(GANBase):
    """InfoGAN (Chen et al. 2016): a GAN whose latent codes stay readable.

    The generator input is [noise (noise_dim), one-hot categorical code
    (num_categories), continuous codes U(-1, 1) (num_continuous)]. An
    auxiliary head Q on the discriminator's body predicts the codes from
    the generated image; both players minimize lambda * L_I, the variational
    lower bound on the mutual information I(c; G(z, c)) ([1], eqs. 4-6):
    the categorical cross-entropy plus the Gaussian negative log-likelihood
    (fixed unit variance) of the continuous codes.

    `generate` takes the full input [N, latent_dim] with latent_dim =
    noise_dim + num_categories + num_continuous; `codes_to_latent` builds it
    and `traversal` draws the paper's code traversal grids ([1], fig. 2).

    Args:
      image_shape: (H, W, C).
      noise_dim: size of the incompressible noise z ~ N(0, I).
      num_categories: size of the categorical code (>= 2).
      num_continuous: number of continuous codes (>= 0).
      info_weight: lambda ([1] uses 1).
      architecture: "dcgan" ([1]) or "mlp".
      hidden_units: MLP widths (architecture="mlp").
      filters: DCGAN channels per stage (architecture="dcgan").
      ema_decay: None or (0, 1): EMA of the generator's weights for sampling.
      seed: seeds training noise.

    References:
      [1] Chen et al. InfoGAN: Interpretable Representation Learning by
          Information Maximizing Generative Adversarial Nets. NeurIPS 2016.
    """

    extra_metrics = ("info_loss", "category_accuracy")

    def __init__(self, image_shape=(8, 8, 1), noise_dim=32, num_categories=10,
                 num_continuous=2, info_weight=1.0, architecture="dcgan",
                 hidden_units=(256, 256), filters=(64, 128), ema_decay=None,
                 seed=None, **kwargs):
        self.noise_dim = positive_int("noise_dim", noise_dim)
        self.num_categories = positive_int("num_categories", num_categories)
        if self.num_categories < 2:
            raise ConfigError(f"num_categories must be >= 2, got {num_categories!r}")
        if isinstance(num_continuous, bool) or not isinstance(
                num_continuous, (int, np.integer)) or num_continuous < 0:
            raise ConfigError(f"num_continuous must be an integer >= 0, got {num_continuous!r}")
        self.num_continuous = int(num_continuous)
        try:
            self.info_weight = float(info_weight)
        except (TypeError, ValueError):
            raise ConfigError(f"info_weight must be a number >= 0, got {info_weight!r}") from None
        if not self.info_weight >= 0:
            raise ConfigError(f"info_weight must be a number >= 0, got {info_weight!r}")
        # Q shares D's body ([1], sec. 5): one head, [source, categories, means].
        self.discriminator_outputs = 1 + self.num_categories + self.num_continuous
        super().__init__(image_shape=image_shape,
                         latent_dim=self.noise_dim + self.num_categories + self.num_continuous,
                         architecture=architecture, hidden_units=hidden_units,
                         filters=filters, ema_decay=ema_decay, seed=seed, **kwargs)
        self._build_networks()

    def get_config(self):
        config = super().get_config()
        config.pop("latent_dim")
        config.update(noise_dim=self.noise_dim, num_categories=self.num_categories,
                      num_continuous=self.num_continuous, info_weight=self.info_weight)
        return config

    # ----------------------------------------------------------------- codes
    def codes_to_latent(self, noise, categories, continuous=None):
        """The generator input [N, latent_dim] from its parts.

        Args:
          noise: float [N, noise_dim].
          categories: int [N] in [0, num_categories).
          continuous: float [N, num_continuous] (default zeros).
        """
        noise = tf.convert_to_tensor(noise, tf.float32)
        categories = np.asarray(categories)
        if categories.ndim != 1 or categories.dtype.kind not in "iu" or (
                categories.size and (categories.min() < 0 or
                                     categories.max() >= self.num_categories)):
            raise InputError(f"categories must be ints in [0, {self.num_categories}) "
                             f"of shape [N], got {categories!r}")
        if continuous is None:
            continuous = tf.zeros([len(categories), self.num_continuous])
        return tf.concat([noise, tf.one_hot(categories, self.num_categories),
                          tf.convert_to_tensor(continuous, tf.float32)], -1)

    def _split(self, z):
        return tf.split(z, [self.noise_dim, self.num_categories, self.num_continuous], -1)

    def _random_latents(self, n):
        noise = keras.random.normal((n, self.noise_dim), seed=self.seed_generator)
        cat = keras.random.randint((n,), 0, self.num_categories, seed=self.seed_generator)
        cont = keras.random.uniform((n, self.num_continuous), -1.0, 1.0,
                                    seed=self.seed_generator)
        return tf.concat([noise, tf.one_hot(cat, self.num_categories), cont], -1)

    def _latent_from_seed(self, seed):
        seeds = tf.random.experimental.stateless_split(seed, 3)
        noise = tf.random.stateless_normal([self.noise_dim], seed=seeds[0])
        cat = tf.random.stateless_uniform([], seeds[1], 0, self.num_categories,
                                          dtype=tf.int32)
        cont = tf.random.stateless_uniform([self.num_continuous], seeds[2], -1.0, 1.0)
        return tf.concat([noise, tf.one_hot(cat, self.num_categories), cont], -1)

    # -------------------------------------------------------------- training
    def _info_loss(self, outputs, z):
        """L_I: the negative variational MI bound up to constants ([1], eq. 5)."""
        _, cat, cont = self._split(z)
        logits = outputs[:, 1:1 + self.num_categories]
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=cat, logits=logits))
        if self.num_continuous:
            mean = outputs[:, 1 + self.num_categories:]
            loss += tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(cont - mean), -1))
        accuracy = tf.reduce_mean(tf.cast(tf.equal(
            tf.argmax(logits, -1), tf.argmax(cat, -1)), tf.float32))
        return loss, accuracy

    def _discriminator_loss(self, real, labels, z, training):
        fake = self._g(z, training=training)
        real_out = self._d(real, training=training)
        fake_out = self._d(fake, training=training)
        info, accuracy = self._info_loss(fake_out, z)
        loss = bce_discriminator_loss(real_out[:, :1], fake_out[:, :1]) + self.info_weight * info
        return loss, {"d_real": tf.reduce_mean(tf.sigmoid(real_out[:, 0])),
                      "d_fake": tf.reduce_mean(tf.sigmoid(fake_out[:, 0])),
                      "info_loss": info, "category_accuracy": accuracy}

    def _generator_loss(self, real, labels, z, training):
        fake_out = self._d(self._g(z, training=training), training=training)
        info, _ = self._info_loss(fake_out, z)
        return non_saturating_generator_loss(fake_out[:, :1]) + self.info_weight * info, {}

    def _discriminate(self, images, labels=None):
        out = self._d(2.0 * images - 1.0)
        return {"logits": out[:, 0],
                "category_logits": out[:, 1:1 + self.num_categories],
                "continuous_mean": out[:, 1 + self.num_categories:]}

    # --------------------------------------------------------------- figures
    def traversal(self, continuous_index=0, values=np.linspace(-2, 2, 8), seed=0):
        """Code traversal grid ([1], fig. 2): one row per category, the chosen
        continuous code swept over `values` along the row, the noise and the
        other codes fixed (noise from `seed`, other continuous codes 0).

        Returns:
          float32 images [num_categories * len(values), H, W, C] in [0, 1], row-major.
        """
        values = np.asarray(values, np.float32)
        if self.num_continuous and not 0 <= continuous_index < self.num_continuous:
            raise InputError(f"continuous_index must be in [0, {self.num_continuous}), "
                             f"got {continuous_index}")
        rows, cols = self.num_categories, len(values)
        noise = tf.random.stateless_normal([1, self.noise_dim], seed=[seed, 0])
        noise = tf.repeat(noise, rows * cols, axis=0)
        categories = np.repeat(np.arange(rows), cols)
        continuous = np.zeros((rows * cols, self.num_continuous), np.float32)
        if self.num_continuous:
            continuous[:, continuous_index] = np.tile(values, rows)
        return to_unit(self._g(self.codes_to_latent(noise, categories, continuous),
                               network=self.sampling_generator))
