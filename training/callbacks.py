"""Keras callbacks used by the training CLI."""

import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from export.layout import epoch_samples_file
from export.saved_model import non_finite_weights
from training.images import display_scale, is_point_model, make_grid, point_figure, save_png
from zoo.layers.sampling import per_row_seeds


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, or at the end of an epoch
    whose weights are not all finite, by raising `NonFiniteLossError`.

    Raising (unlike `keras.callbacks.TerminateOnNaN`) skips the epoch-end
    hooks, so `BackupAndRestore` keeps the last good epoch instead of saving
    the broken weights over it.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        # Listed first, this runs before BackupAndRestore saves the epoch:
        # weights that went non-finite without a non-finite loss (a NaN
        # update under a finite loss) never replace the last good epoch.
        bad = non_finite_weights(self.model)
        if bad:
            raise NonFiniteLossError(f"non-finite weights ({', '.join(bad[:3])}) after "
                                     f"epoch {epoch + 1}")

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        bad = {k: float(v) for k, v in logs.items()
               if np.ndim(v) == 0 and not math.isfinite(float(v))}
        if bad:
            raise NonFiniteLossError(
                f"non-finite training metrics {bad} at epoch "
                f"{getattr(self, '_epoch', 0) + 1}, batch {batch + 1}")


class SampleGrid(keras.callbacks.Callback):
    """Writes a grid of samples every epoch as PNG and as a TensorBoard image.

    For models of 2-D points (`training.datasets.toy`) the picture is the
    density on the unit square where the model has one, else a scatter of
    samples.

    Uses the same seed every epoch, so the grids show how the same latent
    draws evolve. For models that reconstruct, a second TensorBoard image
    alternates fixed test images and their reconstructions.

    Args:
      sample_dir: folder for epoch_NNN.png (epochs counted from 1).
      log_dir: TensorBoard folder for image summaries, or None.
      num_samples: images per grid.
      seed: sampling seed.
      reference_images: optional float [M, H, W, C] in [0, 1] to reconstruct.
      reference_batch: a test batch; image-to-image models show its first 16
        inputs, their translations and (paired data) the targets, in rows of 8.
    """

    def __init__(self, sample_dir, log_dir=None, num_samples=64, seed=0,
                 reference_images=None, reference_batch=None):
        super().__init__()
        self.reference_batch = reference_batch
        self.sample_dir = sample_dir
        self.num_samples = num_samples
        self.seed = seed
        self.reference_images = reference_images
        self._writer = tf.summary.create_file_writer(log_dir) if log_dir else None

    def on_train_begin(self, logs=None):
        # Graph functions: eager per-row sampling costs more than an epoch
        # of training on small data.
        self._sample = tf.function(self.model.sample_from_seeds)
        self._reconstruct = tf.function(self.model.reconstruct)

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        if is_point_model(model):
            # 2-D points: a density heatmap (flows) or a sample scatter.
            if "sample" in model.capabilities or hasattr(model, "log_density"):
                figure = point_figure(model, self._sample, seed=self.seed)
                save_png(os.path.join(self.sample_dir, epoch_samples_file(epoch + 1)), figure)
                self._summary("samples", figure, epoch)
            return
        if getattr(model, "translation", False) and self.reference_batch is not None:
            grid = translation_grid(model, self.reference_batch)
            save_png(os.path.join(self.sample_dir, epoch_samples_file(epoch + 1)),
                     grid, scale=display_scale(model.image_shape[:2]))
            self._summary("translations", grid, epoch)
        if "sample" in model.capabilities:
            seeds = per_row_seeds(self.num_samples, self.seed)
            if model.conditional:
                # Class-conditional models: labels 0, 1, ..., as `sample` uses.
                labels = np.arange(self.num_samples, dtype=np.int32) % model.num_classes
                grid = make_grid(self._sample(seeds, labels))
            else:
                grid = make_grid(self._sample(seeds))
            save_png(os.path.join(self.sample_dir, epoch_samples_file(epoch + 1)),
                     grid, scale=display_scale(model.image_shape[:2]))
            self._summary("samples", grid, epoch)
        if self.reference_images is not None and "reconstruct" in model.capabilities:
            x = self.reference_images
            pairs = np.stack([x, self._reconstruct(x).numpy()], 1)
            grid = make_grid(pairs.reshape((-1,) + x.shape[1:]), num_cols=2 * 8)
            self._summary("reconstructions", grid, epoch)

    def _summary(self, name, grid, epoch):
        if self._writer is not None:
            with self._writer.as_default():
                tf.summary.image(name, grid[None], step=epoch + 1)
            self._writer.flush()


def translation_grid(model, batch, num=16):
    """Rows of 8: inputs, translations and (paired data) targets; StarGAN
    translates each image to the next domain (label + 1 mod K)."""
    from zoo.translation.base import display_pairs

    source, second = (np.asarray(b)[:num] for b in batch)
    if model.pair_data:
        out, target = model.translate(source), (second if model.paired else None)
    else:
        out, target = model.translate(source, (second + 1) % model.num_classes), None
    return make_grid(display_pairs(source, out, target), num_cols=8)


class Throughput(keras.callbacks.Callback):
    """Measures training images per second for each epoch.

    Args:
      images_per_epoch: number of training images one epoch sees; None
        (unknown) records nothing.
    """

    def __init__(self, images_per_epoch):
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self.images_per_second = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last_batch = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # Timed to the last training batch: validation and other callbacks'
        # epoch-end work run before on_epoch_end and are not training.
        self._last_batch = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = self._last_batch - self._start
        if self.images_per_epoch and elapsed > 0:
            self.images_per_second.append(self.images_per_epoch / elapsed)

    def steady_rate(self):
        """Median over epochs after the first, which includes tracing; with a
        single epoch, that epoch's rate (tracing included)."""
        rates = self.images_per_second[1:] or self.images_per_second
        return float(np.median(rates)) if rates else None
