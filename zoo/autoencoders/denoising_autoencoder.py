"""Denoising autoencoder: reconstruct the clean image from a corrupted copy."""

import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.autoencoders.base import AutoencoderBase
from zoo.registry import base_arguments, register

NOISES = ("gaussian", "masking", "salt_and_pepper")


def corruption_draws(noise, shape, seed):
    """The random numbers `corrupt` uses for images of `shape` [N, H, W, C]:
    N(0, 1) [N, H, W, C] for "gaussian", else U(0, 1) [N, 2, H, W, C]."""
    if noise == "gaussian":
        return tf.random.stateless_normal(shape, seed=seed)
    shape = tf.concat([shape[:1], [2], shape[1:]], 0)
    return tf.random.stateless_uniform(shape, seed=seed)


def corrupt(images, noise, level, seed=None, draws=None):
    """Corrupts images in [0, 1] with stateless randomness.

    Args:
      images: float32 [N, H, W, C] in [0, 1].
      noise: "gaussian" (add N(0, level^2), clip to [0, 1]), "masking" (set
        a random fraction `level` of pixels to 0) or "salt_and_pepper" (set
        a random fraction `level` of pixels to 0 or 1, each with probability
        1/2) ([2] sec. 4.2).
      level: standard deviation or fraction of corrupted pixels, in (0, 1).
      seed: int32 or int64 [2]; the same seed gives the same corruption.
      draws: instead of `seed`, the draws of `corruption_draws`.

    Returns:
      float32 [N, H, W, C] in [0, 1].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if draws is None:
        draws = corruption_draws(noise, tf.shape(images), seed)
    if noise == "gaussian":
        return tf.clip_by_value(images + level * draws, 0.0, 1.0)
    hit = draws[:, 0] < level
    if noise == "masking":
        return tf.where(hit, 0.0, images)
    return tf.where(hit, tf.cast(draws[:, 1] < 0.5, tf.float32), images)


@register("denoising_autoencoder")
class DenoisingAutoencoder(AutoencoderBase):
    """Autoencoder trained to undo a corruption of its input.

    Each training batch x is corrupted on the fly into x~ ~ C(x~ | x) and the
    loss is the reconstruction error of the clean x from g(f(x~)) ([1];
    [2]; [3] sec. 14.5). The corruption draws its randomness from the
    model's `seed_generator` with stateless ops, so a seeded run is
    reproducible; evaluation (`test_step`) uses one fixed corruption seed.

    Exports add `denoise` (images, clean or corrupted -> {"images"}, the
    restored images g(f(x))). There is no prior over codes, so the model
    cannot `sample` (it raises `NotImplementedError`); `serving_default` is
    `reconstruct`.

    Args:
      image_shape: (H, W, C).
      latent_dim: code size (may exceed the input size: the corruption, not
        a bottleneck, prevents copying).
      noise: "gaussian", "masking" or "salt_and_pepper".
      noise_level: Gaussian standard deviation, or fraction of corrupted
        pixels; in (0, 1).
      architecture: "dense" or "conv".
      hidden_units: dense hidden widths.
      filters: conv stage channels.
      dense_units: conv models' dense layer around the code.
      reconstruction_loss: "bce" or "l2".
      code_activation: "linear", "sigmoid", "relu" or "tanh".
      seed: seeds the training corruption.

    References:
      [1] Vincent, Larochelle, Bengio, Manzagol. Extracting and Composing
          Robust Features with Denoising Autoencoders. ICML 2008.
      [2] Vincent et al. Stacked Denoising Autoencoders. JMLR 11, 2010.
      [3] Goodfellow, Bengio, Courville. Deep Learning. 2016, ch. 14.
    """


    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, noise="gaussian",
                 noise_level=0.3, architecture="dense", hidden_units=(256, 128),
                 filters=(32, 64), dense_units=256, reconstruction_loss="bce",
                 code_activation="linear", seed=None, **kwargs):
        super().__init__(**base_arguments(AutoencoderBase, locals()))
        self.noise = checks.choice("noise", noise, NOISES)
        self.noise_level = checks.open_unit_float("noise_level", noise_level)
        self._build_networks()

    def corrupt(self, images, seed=0):
        """This model's corruption C(x~ | x) of images [N, H, W, C], seeded.

        Args:
          images: float [N, H, W, C] in [0, 1].
          seed: int; the same seed gives the same corruption.
        """
        return corrupt(self.check_images(images), self.noise, self.noise_level,
                       tf.constant([int(seed), 0], tf.int32))

    def denoise(self, images):
        """Restored images g(f(x~)) for images x~ [N, H, W, C], clean or corrupted."""
        return self.reconstruct(images)

    def _corrupt(self, images, training):
        # Evaluation uses one fixed seed so validation losses are comparable
        # across epochs and never advance the training seed stream.
        if not training:
            return corrupt(images, self.noise, self.noise_level,
                           tf.constant([self.seed or 0, 1], tf.int32))
        image_shape = tf.shape(images)[1:]
        draws = self.training_noise(
            lambda n, seed: corruption_draws(
                self.noise, tf.concat([[n], image_shape], 0), seed),
            tf.shape(images)[0])
        return corrupt(images, self.noise, self.noise_level, draws=draws)

    def figures(self, images, seed=0):
        """Adds rows of (clean, corrupted, restored) test images."""
        grids = super().figures(images, seed)
        x = np.asarray(images, np.float32)[:30]
        noisy = self.corrupt(x, seed).numpy()
        triples = np.stack([x, noisy, self.denoise(noisy).numpy()], 1)
        grids["denoising"] = (triples.reshape((-1,) + x.shape[1:]), 15)
        return grids

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        endpoints["denoise"] = (
            lambda images: {"images": self._reconstruct(self.check_images(images))},
            [self.image_spec()])
        return endpoints
