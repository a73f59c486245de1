"""Shared machinery of the autoregressive family: exact likelihood, sampling, export.

A model factors p(x) = prod_i p(x_i | x_<i) over pixels in raster order and,
inside a pixel, over channels ([1], eq. 1-2). Images enter the public API as
floats in [0, 1]; the model quantizes them to `num_levels` grey levels
(round(x * (L - 1))), so `log_prob` is the exact log-probability of the
quantized image, in nats. With 2 levels the pixels are Bernoulli.

Subclasses build the network and the pixel likelihood through small hooks:
`_network`, `_log_prob_terms`, `_sample_channel` and `noise_depth`.

Sampling draws all of a row's randomness up front from its own seed row
(stateless uniforms [H, W, C, noise_depth]) and turns it into pixels with
inverse-CDF / Gumbel-max tricks, so image i depends only on seed row i, and
any two samplers (naive or cached) that compute the same conditionals give
the same images.

References:
  [1] van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural
      Networks. ICML 2016.
  [2] Ramachandran et al. Fast Generation for Convolutional Autoregressive
      Models. ICLR workshop 2017.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import checks
from zoo.base import GenerativeModel
from zoo.distributions import quantize
from zoo.layers.sampling import per_row_seeds

tfd = tfp.distributions

# Uniform noise is kept away from 0 and 1 so its logit / Gumbel transform is finite.
_TINY = 1e-6


def gumbel(u):
    """Standard Gumbel noise from uniforms in (0, 1)."""
    return -tf.math.log(-tf.math.log(u))


class AutoregressiveModel(GenerativeModel):
    """Base of PixelCNN-like models.

    Args:
      image_shape: (H, W, C).
      num_levels: grey levels L per channel; 2 means binary (Bernoulli)
        pixels, otherwise a L-way distribution per channel.
      num_classes: None for an unconditional model, else the number of
        classes it is conditioned on.
      seed: seeds training-time randomness (dropout).
    """

    def __init__(self, image_shape, num_levels, num_classes=None, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.num_levels = checks.int_in_range("num_levels", num_levels, 2, 256)
        self.num_classes = checks.optional(checks.positive_int, "num_classes", num_classes)

    @property
    def binary(self):
        return self.num_levels == 2

    def preprocessing(self, training=True):
        if self.binary:
            return "binary_dynamic" if training else "binary_static"
        return "unit"

    def _finish_build(self):
        """Creates every weight with one forward pass (subclasses call it last)."""
        labels = tf.zeros([1], tf.int32) if self.conditional else None
        self._network(tf.zeros((1,) + self.image_shape), labels, training=False)
        self.built = True

    # ------------------------------------------------------------- hooks
    #: Uniforms per channel a sample needs (e.g. L for Gumbel-max over L levels).
    noise_depth = 1

    def _network(self, x, labels=None, training=False):
        """Network output [N, H, W, Q] from inputs `x` [N, H, W, C] in [-1, 1].

        The output at a pixel may depend only on earlier pixels (and, for
        the part that parameterizes channel c, on channels < c of the pixel).
        """
        raise NotImplementedError

    def network_output(self, x, labels=None, training=False):
        """`_network` in float32 (it computes in the policy's dtype)."""
        return tf.cast(self._network(x, labels, training=training), tf.float32)

    def _log_prob_terms(self, params, levels, x):
        """log p of each dimension given the past: [N, H, W, C] or, when the
        channels of a pixel are modelled jointly, [N, H, W]."""
        raise NotImplementedError

    def _sample_channel(self, params, values, noise, channel):
        """Level of channel `channel` at one pixel.

        Args:
          params: [N, Q] network output at the pixel.
          values: [N, C] levels sampled so far at the pixel (later channels 0).
          noise: [N, C, noise_depth] uniforms of the pixel.
          channel: int32 scalar.

        Returns:
          float32 [N] levels.
        """
        raise NotImplementedError

    # ------------------------------------------------------------ helpers
    def to_levels(self, images):
        """Images in [0, 1] -> levels {0, ..., L - 1} (float32)."""
        return quantize(images, self.num_levels)

    def levels_to_input(self, levels):
        """Levels -> the network's input scale [-1, 1]."""
        return levels * (2.0 / (self.num_levels - 1)) - 1.0

    def log_prob_terms(self, images, labels=None):
        """log p(x_d | x_<d) for every dimension d (see `_log_prob_terms`)."""
        levels = self.to_levels(images)
        x = self.levels_to_input(levels)
        return self._log_prob_terms(self.network_output(x, labels), levels, x)

    def _log_prob(self, images, labels=None):
        """Exact log p(images) in nats, [N] (labels: int [N] when conditional)."""
        labels = self.labels_arg(labels, images.shape[0])
        terms = self.log_prob_terms(images, labels)
        return tf.reduce_sum(tf.reshape(terms, [tf.shape(terms)[0], -1]), axis=1)

    def call(self, inputs, training=False):
        return self._log_prob(inputs)

    # ---------------------------------------------------------- training
    metric_names = ("loss", "bits_per_dim")

    def loss_terms(self, images, labels, training):
        levels = self.to_levels(images)
        x = self.levels_to_input(levels)
        terms = self._log_prob_terms(self.network_output(x, labels, training), levels, x)
        # Nats per dimension keeps the learning rate independent of image size.
        nats = -tf.reduce_sum(tf.reshape(terms, [tf.shape(terms)[0], -1]), 1) / self.num_dims
        return {"loss": nats, "bits_per_dim": nats / np.log(2.0)}

    # ---------------------------------------------------------- sampling
    # Traced: an eager map_fn costs about 1 ms per row.
    @tf.function(reduce_retracing=True)
    def _noise(self, seeds):
        h, w, c = self.image_shape
        shape = [h, w, c, self.noise_depth]
        return tf.map_fn(
            lambda s: tf.random.stateless_uniform(shape, seed=s, minval=_TINY,
                                                  maxval=1.0 - _TINY),
            seeds, fn_output_signature=tf.float32)

    def _sample(self, seeds, labels=None):
        n = tf.shape(seeds)[0]
        return self._complete(tf.zeros(tf.concat([[n], self.image_shape], 0)),
                              tf.zeros([n], tf.int32), seeds, labels)

    def complete(self, images, num_known_rows, seed=0, labels=None):
        """Keeps the top `num_known_rows[i]` rows of image i and samples the rest.

        Args:
          images: float [N, H, W, C] in [0, 1]; rows below the known ones
            are ignored.
          num_known_rows: int [N] in [0, H].
          seed: int (row i uses seed row [seed, i], as in `sample`) or
            int32 [N, 2] seed rows.
          labels: int [N], for class-conditional models only.

        Returns:
          float32 [N, H, W, C] in [0, 1].
        """
        images = self.check_images(images)
        n = int(images.shape[0])
        seeds = checks.seeds(per_row_seeds(n, seed) if isinstance(seed, (int, np.integer))
                             else seed)
        known = self.check_known_rows(num_known_rows, n)
        return self._complete(images, known, seeds, self.labels_arg(labels, n))

    def check_known_rows(self, num_known_rows, num_rows=None):
        """int32 [N] in [0, H]; InputError in Python, assertion in graphs."""
        return checks.int_vector("num_known_rows", num_known_rows, 0,
                                 self.image_shape[0], num_rows)

    @property
    def sampler(self):
        """The sampler `_complete` runs: "cached" when the model has one."""
        return "cached" if hasattr(self, "_complete_cached") else "naive"

    def _complete(self, images, known_rows, seeds, labels=None):
        levels = self.to_levels(images)
        noise = self._noise(seeds)
        if self.sampler == "cached":
            out = self._complete_cached(levels, known_rows, noise, labels)
        else:
            out = self._complete_naive(levels, known_rows, noise, labels)
        return out / (self.num_levels - 1)

    def _start(self, levels, known_rows):
        """Zeroes the unknown rows; returns (canvas, row_known [N, H], first step)."""
        h, w, c = self.image_shape
        row_known = tf.range(h)[None, :] < known_rows[:, None]
        canvas = tf.where(row_known[:, :, None, None], levels, 0.0)
        # Rows known in every image need no steps (the result is the same).
        first = tf.reduce_min(tf.concat([known_rows, [h]], 0)) * w * c
        return canvas, row_known, first

    def _write(self, canvas, step, value, row_known, r):
        """canvas with dimension `step` (raster, channel order) set to `value`
        where row r is unknown."""
        h, w, c = self.image_shape
        onehot = tf.reshape(tf.one_hot(step, h * w * c), [1, h, w, c])
        value = tf.where(row_known[:, r], tf.reshape(canvas, [-1, h * w * c])[:, step],
                         value)
        return canvas + onehot * (value[:, None, None, None] - canvas)

    @tf.function(reduce_retracing=True)
    def _complete_naive(self, levels, known_rows, noise, labels=None):
        """Runs the whole network once per dimension (H * W * C passes)."""
        return self._naive_loop(levels, known_rows, noise,
                                lambda x: self.network_output(x, labels))

    def _naive_loop(self, levels, known_rows, noise, network):
        """The naive sampler's loop around `network` (inputs -> float32 output)."""
        h, w, c = self.image_shape
        canvas, row_known, first = self._start(levels, known_rows)

        def body(step, canvas):
            pixel, channel = step // c, step % c
            r, col = pixel // w, pixel % w
            params = network(self.levels_to_input(canvas))[:, r, col]
            value = self._sample_channel(params, canvas[:, r, col], noise[:, r, col], channel)
            return step + 1, self._write(canvas, step, value, row_known, r)

        _, canvas = tf.while_loop(lambda step, _: step < h * w * c, body, (first, canvas))
        return canvas

    # ------------------------------------------------------------ export
    def serving_endpoints(self):
        """Adds `log_prob` (images [+ label] -> [N] nats) and `complete`
        (images, num_known_rows, seed [+ label] -> images)."""
        endpoints = super().serving_endpoints()
        known_spec = tf.TensorSpec((None,), tf.int32, name="num_known_rows")

        def log_prob(images, labels=None):
            return {"log_prob": self._log_prob(self.check_images(images), labels)}

        def complete(images, num_known_rows, seed, labels=None):
            return {"images": self._complete(self.check_images(images),
                                             self.check_known_rows(num_known_rows),
                                             seed, labels)}

        endpoints["log_prob"] = self.endpoint(log_prob, self.image_spec())
        endpoints["complete"] = self.endpoint(complete, self.image_spec(), known_spec,
                                              self.seed_spec())
        return endpoints


class PerChannelHead:
    """Mixin: one independent conditional per channel from the network's logits.

    The network emits C * P logits per pixel, channel c's in the feature
    channels with group c (index k * C + c). P = 1 (Bernoulli logit) for 2
    levels, else P = L (categorical over levels, [1] section 5.3).
    """

    @property
    def logits_per_channel(self):
        return 1 if self.binary else self.num_levels

    @property
    def noise_depth(self):
        return self.logits_per_channel

    @property
    def output_channels(self):
        return self.image_shape[-1] * self.logits_per_channel

    def _per_channel(self, params):
        """[..., P * C] -> [..., C, P]."""
        c = self.image_shape[-1]
        shape = tf.concat([tf.shape(params)[:-1], [self.logits_per_channel, c]], 0)
        params = tf.reshape(params, shape)
        rank = len(params.shape)
        perm = list(range(rank - 2)) + [rank - 1, rank - 2]
        return tf.transpose(params, perm)

    def dims_to_pixels(self, params):
        """[N, D, P] logits per dimension (raster, channel order) -> the
        network's layout [N, H, W, P * C]."""
        h, w, c = self.image_shape
        p = self.logits_per_channel
        params = tf.transpose(tf.reshape(params, [-1, h * w, c, p]), [0, 1, 3, 2])
        return tf.reshape(params, [-1, h, w, p * c])

    def pixel_distribution(self, params):
        """The `tfd` distribution of every channel given the past, batch [..., C]."""
        logits = self._per_channel(params)
        if self.binary:
            return tfd.Bernoulli(logits=logits[..., 0], dtype=tf.float32)
        return tfd.Categorical(logits=logits)

    def _log_prob_terms(self, params, levels, x):
        dist = self.pixel_distribution(params)
        return dist.log_prob(levels if self.binary else tf.cast(levels, tf.int32))

    def _sample_channel(self, params, values, noise, channel):
        params = tf.cast(params, tf.float32)
        logits = tf.gather(self._per_channel(params), channel, axis=1)  # [N, P]
        u = tf.gather(noise, channel, axis=1)
        if self.binary:
            # Bernoulli(sigmoid(l)) = [l + Logistic noise > 0].
            u = u[:, 0]
            return tf.cast(logits[:, 0] + tf.math.log(u) - tf.math.log1p(-u) > 0, tf.float32)
        # Gumbel-max draws from the categorical with these logits.
        return tf.cast(tf.argmax(logits + gumbel(u), axis=-1), tf.float32)
