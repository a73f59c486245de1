"""What the image-to-image models share.

A translation model maps source images (shape `source_shape`, domain A) to
target images (`image_shape`, domain B). Its training batches are
(source, target) pairs from `training.datasets.load_pairs` (unpaired: an A
batch and a B batch); `unpack_batch` returns them as (target, source), so
the source travels in the slot that labels take in the other families and
the GAN base's two-player step runs unchanged. StarGAN's batches are
(images, labels) and it translates to a target label.

`translate(images[, labels])` is the public method and the export's
`serving_default` (also `translate`): batch-major, deterministic (dropout
is training noise only), no seeds. `evaluation_terms` gives PSNR, SSIM and
L1 against paired targets (and bicubic upsampling's, for super-resolution).
"""

import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.errors import InputError
from zoo.gan.base import to_symmetric, to_unit
from zoo.translation import quality


class Translation:
    """Mixed in before a `GenerativeModel` base; set `source_shape` in __init__."""

    translation = True
    #: Batches are (source, target) from `load_pairs` (False: labelled images).
    pair_data = True
    #: Whether the pairs are partners (False: unpaired domains, CycleGAN).
    paired = True
    #: The dataset the tests and examples train on (a `load_pairs` spec).
    example_task = "task:edges(digits)"
    hub_endpoint = "serving_default"

    # A translation has no prior to sample from (the GAN base's `_sample` is not
    # inherited): `sample` refuses with the capabilities it has.
    _sample = GenerativeModel._sample

    def unpack_batch(self, data):
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise InputError(
                f"{self.registered_name} trains on (source, target) batches: use "
                "training.datasets.load_pairs (e.g. --dataset task:edges(digits))")
        source, target = (tf.cast(d, tf.float32) for d in data)
        return target, source

    @property
    def jitter(self):
        """Whether training streams get random flips and crops."""
        return False

    # --------------------------------------------------------------- surface
    def check_source(self, images):
        return checks.images(images, self.source_shape)

    def translate(self, images, labels=None):
        """Translations [N, *image_shape] in [0, 1] of source images
        [N, *source_shape] in [0, 1] (StarGAN: to target `labels` [N])."""
        images = self.check_source(images)
        if self.conditional:
            return self._translate(images, self.check_labels(labels))
        return self._translate(images)

    def _translate(self, images, labels=None):
        return to_unit(self._translator()(to_symmetric(images), training=False))

    def _translator(self):
        """The network that maps A to B."""
        return self.sampling_generator

    def call(self, inputs, training=False):
        return self._translate(inputs)

    # -------------------------------------------------------------- quality
    def evaluation_terms(self, images, labels=None):
        """PSNR, SSIM and L1 of each translation against its paired target
        (images: sources, labels: targets), and bicubic upsampling's PSNR
        and SSIM when the source is smaller."""
        if labels is None or not self.pair_data or not self.paired:
            return {}
        targets = tf.cast(labels, tf.float32)
        out = self._translate(images)
        terms = {"psnr": quality.psnr(out, targets), "ssim": quality.ssim(out, targets),
                 "l1": quality.l1(out, targets)}
        if self.source_shape[:2] != self.image_shape[:2] and \
                self.source_shape[-1] == self.image_shape[-1]:
            up = quality.bicubic(images, self.image_shape[:2])
            terms.update(bicubic_psnr=quality.psnr(up, targets),
                         bicubic_ssim=quality.ssim(up, targets))
        return terms

    def figures(self, images, seed=0):
        """Inputs and their translations, 8 per row pair."""
        del seed
        x = np.asarray(images, np.float32)[:16]
        out = np.asarray(self.translate(x, *self._figure_labels(len(x))))
        return {"translations": (display_pairs(x, out), 8)}

    def _figure_labels(self, n):
        return (np.arange(n) % self.num_classes,) if self.conditional else ()

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        spec = self.image_spec_of(self.source_shape)
        fn = self.endpoint(lambda images, labels=None: {
            "images": self._translate(self.check_source(images), labels)}, spec)
        return {"serving_default": fn, "translate": fn}

    @staticmethod
    def image_spec_of(shape, name="images"):
        return tf.TensorSpec((None,) + tuple(shape), tf.float32, name=name)


def display_pairs(inputs, outputs, targets=None):
    """Rows of 8: inputs, then outputs (then targets), resized to the output
    size (nearest) and to its channels, for one image grid."""
    outputs = np.asarray(outputs, np.float32)
    h, w, c = outputs.shape[1:]

    def fit(x):
        x = np.asarray(x, np.float32)
        if x.shape[1:3] != (h, w):
            x = np.asarray(tf.image.resize(x, (h, w), method="nearest"))
        if x.shape[-1] != c:
            x = np.repeat(x[..., :1], c, -1)
        return x

    groups = [fit(inputs), outputs] + ([fit(targets)] if targets is not None else [])
    rows = []
    for start in range(0, len(outputs), 8):
        rows.extend(g[start:start + 8] for g in groups)
    return np.concatenate(rows)
