"""InfoGAN: interpretable codes by maximizing mutual information."""

import numpy as np
import tensorflow as tf

from zoo import checks, losses
from zoo.errors import InputError
from zoo.gan.base import GANBase, to_unit
from zoo.registry import register


@register("infogan")
class InfoGAN(GANBase):
    """InfoGAN (Chen et al. 2016): a GAN whose latent codes stay readable.

    The generator input is [noise (noise_dim), one-hot categorical code
    (num_categories), continuous codes U(-1, 1) (num_continuous)]. An
    auxiliary head Q on the discriminator's body predicts the codes from
    the generated image; both players minimize L_I, the negated variational
    lower bound on the mutual information I(c; G(z, c)) ([1], eqs. 4-6):
    lambda_cat times the categorical cross-entropy plus lambda_cont times the
    Gaussian negative log-likelihood (fixed unit variance) of the continuous
    codes. [1] (sec. 7) sets lambda = 1 for discrete codes and a smaller
    lambda for continuous ones, whose differential entropy is on another
    scale.

    `generate` takes the full input [N, latent_dim] with latent_dim =
    noise_dim + num_categories + num_continuous; `codes_to_latent` builds it
    and `traversal` draws the paper's code traversal grids ([1], fig. 2).

    Args:
      image_shape: (H, W, C).
      noise_dim: size of the incompressible noise z ~ N(0, I).
      num_categories: size of the categorical code (>= 2).
      num_continuous: number of continuous codes (>= 0).
      categorical_weight: lambda of the categorical code (>= 0; [1]: 1).
      continuous_weight: lambda of the continuous codes (>= 0; smaller).
      architecture, hidden_units, filters, ema_decay, seed: the players'
        networks and training noise, as in `GANBase` ("dcgan" in [1]).

    References:
      [1] Chen et al. InfoGAN: Interpretable Representation Learning by
          Information Maximizing Generative Adversarial Nets. NeurIPS 2016.
    """

    metric_names = GANBase.metric_names + ("info_loss", "category_accuracy")

    def __init__(self, image_shape=(8, 8, 1), noise_dim=32, num_categories=10,
                 num_continuous=2, categorical_weight=1.0, continuous_weight=0.1,
                 architecture="dcgan", hidden_units=(256, 256), filters=(64, 128),
                 ema_decay=None, seed=None, **kwargs):
        self.noise_dim = checks.positive_int("noise_dim", noise_dim)
        self.num_categories = checks.int_at_least("num_categories", num_categories, 2)
        self.num_continuous = checks.int_at_least("num_continuous", num_continuous, 0)
        self.categorical_weight = checks.non_negative_float("categorical_weight",
                                                            categorical_weight)
        self.continuous_weight = checks.non_negative_float("continuous_weight",
                                                           continuous_weight)
        # Q shares D's body ([1], sec. 5): one head, [source, categories, means].
        self.discriminator_outputs = 1 + self.num_categories + self.num_continuous
        super().__init__(image_shape=image_shape,
                         latent_dim=self.noise_dim + self.num_categories + self.num_continuous,
                         architecture=architecture, hidden_units=hidden_units,
                         filters=filters, ema_decay=ema_decay, seed=seed, **kwargs)

    # ----------------------------------------------------------------- codes
    def codes_to_latent(self, noise, categories, continuous=None):
        """The generator input [N, latent_dim] from its parts.

        Args:
          noise: float [N, noise_dim].
          categories: int [N] in [0, num_categories).
          continuous: float [N, num_continuous] (default zeros).
        """
        noise = tf.convert_to_tensor(noise, tf.float32)
        categories = checks.int_vector("categories", categories, 0, self.num_categories - 1,
                                       interval=f"[0, {self.num_categories})")
        if continuous is None:
            continuous = tf.zeros([tf.shape(categories)[0], self.num_continuous])
        return tf.concat([noise, tf.one_hot(categories, self.num_categories),
                          tf.convert_to_tensor(continuous, tf.float32)], -1)

    def _split(self, z):
        return tf.split(z, [self.noise_dim, self.num_categories, self.num_continuous], -1)

    def _draw_latents(self, n, seed):
        seeds = tf.random.experimental.stateless_split(seed, 3)
        noise = tf.random.stateless_normal([n, self.noise_dim], seed=seeds[0])
        cat = tf.random.stateless_uniform([n], seeds[1], 0, self.num_categories,
                                          dtype=tf.int32)
        cont = tf.random.stateless_uniform([n, self.num_continuous], seeds[2], -1.0, 1.0)
        return tf.concat([noise, tf.one_hot(cat, self.num_categories), cont], -1)

    def _latent_from_seed(self, seed):
        seeds = tf.random.experimental.stateless_split(seed, 3)
        noise = tf.random.stateless_normal([self.noise_dim], seed=seeds[0])
        cat = tf.random.stateless_uniform([], seeds[1], 0, self.num_categories,
                                          dtype=tf.int32)
        cont = tf.random.stateless_uniform([self.num_continuous], seeds[2], -1.0, 1.0)
        return tf.concat([noise, tf.one_hot(cat, self.num_categories), cont], -1)

    # -------------------------------------------------------------- training
    def _info_terms(self, p):
        """lambda-weighted L_I of the generated images and Q's category accuracy ([1], eq. 5)."""
        _, categories, continuous = self._split(p.z)
        outputs = p.fake_out
        logits = outputs[:, 1:1 + self.num_categories]
        categorical, gaussian = losses.mutual_information_terms(
            logits, categories, outputs[:, 1 + self.num_categories:], continuous)
        info = self.categorical_weight * categorical + self.continuous_weight * gaussian
        return info, losses.accuracy(logits, tf.argmax(categories, -1))

    def _discriminator_terms(self, p):
        terms = super()._discriminator_terms(p)
        info, accuracy = self._info_terms(p)
        terms["d_loss"] = terms["d_loss"] + info
        terms.update(info_loss=info, category_accuracy=accuracy)
        return terms

    def _generator_terms(self, p):
        terms = super()._generator_terms(p)
        terms["g_loss"] = terms["g_loss"] + self._info_terms(p)[0]
        return terms

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
