"""Shared machinery of normalizing flows: exact density, one-pass sampling, codes.

A flow is an invertible map f from data to noise z = f(x) with a simple
prior p(z), so log p(x) = log p(f(x)) + log |det df/dx| ([1], eq. 3). A
model here is a list of *levels*, each a list of steps
(`zoo.layers.bijectors`); between levels half of the channels are
factored out to the prior (multi-scale, [2] sec. 3.6), and the code z is
all factored parts flattened and concatenated, [N, D].

Data. Images are 8-bit; training sees them uniformly dequantized,
y = (x_int + u) / 256 with u ~ U[0, 1)^D, and the first step maps y to the
reals (`Logit`, [2] sec. 4.1). Then

  log P(x_int) >= E_u[log p(y)] - D log 256        ([3] sec. 3.1)

so `log_prob(images)` (one draw of u) returns log p(y) - D log 256, nats on
the scale of the 8-bit integers, comparable with the exact discrete NLL of
PixelCNN-like models. `log_density(y)` is the continuous density itself,
which integrates to 1 over the logit's support ([-a/(1-2a), (1-a)/(1-2a)]
per dimension, a = logit_alpha). Codes and decoding skip dequantization,
so `decode(encode(x)) == x`.

References:
  [1] Dinh, Krueger, Bengio. NICE: Non-linear Independent Components
      Estimation. ICLR workshop 2015.
  [2] Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP.
      ICLR 2017.
  [3] Theis, van den Oord, Bethge. A note on the evaluation of generative
      models. ICLR 2016.
"""

import math

import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.errors import ConfigError, InputError
from zoo.layers.bijectors import FlowBijector, Logit
from zoo.layers.sampling import normal_per_row, per_row_seeds

#: Grey levels of the stored images that are dequantized.
DATA_LEVELS = 256
# The seed of the dequantization noise `log_prob` uses by default: one
# fixed u for every image, so the score of an image depends on it alone.
_FIXED_NOISE_SEED = (0, 2**31 - 1)


def dequantize(images, noise):
    """y = (round(x * 255) + u) / 256 for images in [0, 1] and u in [0, 1)."""
    return (tf.round(images * (DATA_LEVELS - 1)) + noise) / DATA_LEVELS


class FlowModel(GenerativeModel):
    """Base of the normalizing flows.

    Subclasses build `self.levels` (a list of lists of steps) and call
    `_finish_build()` last; `factor_out` says whether half of the channels
    leave after every level but the last.

    Args:
      image_shape: (H, W, C).
      logit_alpha: alpha of the logit pre-processing in (0, 0.5), or None
        to only centre the data (then the density leaks outside [0, 1]).
      seed: seeds weights and training-time randomness.
    """

    factor_out = False

    def __init__(self, image_shape, logit_alpha=0.05, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        if logit_alpha is not None:
            logit_alpha = checks.number("logit_alpha", logit_alpha, 0.0, 0.5,
                                        low_open=True, high_open=True)
        self.logit_alpha = logit_alpha
        self.preprocess = Logit(logit_alpha, name="logit")
        if self.num_dims < 2:
            raise ConfigError(f"a flow needs at least 2 dimensions, got image_shape "
                                     f"{self.image_shape}")

    @property
    def latent_dim(self):
        return self.num_dims

    #: False where `log_density` estimates the log-determinant (FFJORD's
    #: Hutchinson trace above `exact_trace_max_dims`), so reports say so.
    exact_density = True

    def _finish_build(self):
        """Builds every step with one pass and records the factored shapes."""
        self._piece_shapes = []
        h = self.preprocess(tf.zeros((1,) + self.image_shape))[0]
        for i, level in enumerate(self.levels):
            for step in level:
                h = step(h)[0]
            if self.factor_out and i < len(self.levels) - 1:
                h, out = self._split(h)
                self._piece_shapes.append(tuple(out.shape[1:]))
        self._piece_shapes.append(tuple(h.shape[1:]))
        self.built = True

    @staticmethod
    def _split(h):
        c = h.shape[-1]
        return h[..., :c - c // 2], h[..., c - c // 2:]

    # ------------------------------------------------------- two directions
    def to_latent(self, y, training=False):
        """(z [N, D], log |det dz/dy| [N]) for continuous data y [N, H, W, C]."""
        h, log_det = self.preprocess(y)
        pieces = []
        for i, level in enumerate(self.levels):
            for step in level:
                h, ld = step(h, training=training)
                log_det = log_det + ld
            if self.factor_out and i < len(self.levels) - 1:
                h, out = self._split(h)
                pieces.append(out)
        pieces.append(h)
        n = tf.shape(y)[0]
        return tf.concat([tf.reshape(p, [n, -1]) for p in pieces], 1), log_det

    def from_latent(self, z):
        """y [N, H, W, C] for codes z [N, D] (not clipped to [0, 1])."""
        sizes = [int(np.prod(s)) for s in self._piece_shapes]
        parts = tf.split(z, sizes, axis=1)
        pieces = [tf.reshape(p, (-1,) + s) for p, s in zip(parts, self._piece_shapes)]
        h = pieces.pop()
        for i in reversed(range(len(self.levels))):
            if self.factor_out and i < len(self.levels) - 1:
                h = tf.concat([h, pieces.pop()], axis=-1)
            for step in reversed(self.levels[i]):
                h = step.reverse(h)
        return self.preprocess.reverse(h)

    # --------------------------------------------------------------- prior
    def prior_log_prob(self, z):
        """log p(z) [N]: standard normal (subclasses may override)."""
        return -0.5 * tf.reduce_sum(tf.square(z) + math.log(2 * math.pi), axis=1)

    def prior_noise(self, seeds):
        """One prior draw per seed row, [N, D]."""
        return normal_per_row(seeds, self.num_dims)

    # -------------------------------------------------------------- density
    def _log_density(self, y, training=False):
        z, log_det = self.to_latent(y, training=training)
        return self.prior_log_prob(z) + log_det

    def log_density(self, y):
        """The continuous density log p(y) [N], nats, for y [N, H, W, C]."""
        y = tf.convert_to_tensor(y, tf.float32)
        if tuple(y.shape[1:]) != self.image_shape:
            raise InputError(f"y must have shape [N, {', '.join(map(str, self.image_shape))}]"
                             f", got {list(y.shape)}")
        return self._log_density(y)

    def dequantization_noise(self, num_rows, seed=None):
        """u [N, H, W, C] in [0, 1): the fixed draw (seed None, the same for
        every image) or row i from seed row [seed, i]."""
        if seed is None:
            u = tf.random.stateless_uniform(self.image_shape, seed=_FIXED_NOISE_SEED)
            return tf.broadcast_to(u, tf.concat([[num_rows], self.image_shape], 0))
        return tf.map_fn(lambda s: tf.random.stateless_uniform(self.image_shape, seed=s),
                         per_row_seeds(int(num_rows), seed), fn_output_signature=tf.float32)

    def _log_prob(self, images, seed=None):
        """log p(y) - D log 256 for y dequantized from `images` (see the module)."""
        y = dequantize(images, self.dequantization_noise(tf.shape(images)[0], seed))
        return self._log_density(y) - self.num_dims * math.log(DATA_LEVELS)

    def log_prob(self, images, seed=None):
        """One-draw estimate of the 8-bit log-likelihood bound, nats [N].

        Args:
          images: float [N, H, W, C] in [0, 1] (8-bit images).
          seed: None for the fixed dequantization noise (the exported
            `log_prob` uses it), or an int: row i then uses seed row [seed, i].
        """
        return self._log_prob(self.check_images(images), seed)

    @property
    def distribution(self):
        """The flow as a `tfd.TransformedDistribution` over y [H, W, C]."""
        import tensorflow_probability as tfp

        tfd = tfp.distributions
        base = tfd.MultivariateNormalDiag(loc=tf.zeros([self.num_dims]))
        return tfd.TransformedDistribution(
            base, FlowBijector(self.to_latent, self.from_latent, self.image_shape))

    # ---------------------------------------------------- codes and samples
    def _encode(self, images):
        return self.to_latent(images)[0]

    def _decode(self, z):
        return tf.clip_by_value(self.from_latent(z), 0.0, 1.0)

    def _sample(self, seeds, temperature=None):
        eps = self.prior_noise(seeds)
        if temperature is not None:
            eps = eps * temperature[:, None]
        return self._decode(eps)

    def sample(self, num_samples, seed=None, labels=None, draw=False, temperature=1.0):
        """As `GenerativeModel.sample`; `temperature` T scales the prior's
        noise (z = T eps, [Glow] sec. 5.4), T = 1 the model itself."""
        seeds = per_row_seeds(num_samples, seed)
        return self.sample_from_seeds(seeds, labels, draw, temperature)

    def sample_from_seeds(self, seeds, labels=None, draw=False, temperature=1.0):
        seeds = checks.seeds(seeds)
        self.labels_arg(labels, seeds.shape[0])
        try:
            t = checks.number("temperature", temperature, 0.0, None)
        except ConfigError as e:
            raise InputError(str(e)) from None
        return self._sample(seeds, tf.fill([tf.shape(seeds)[0]], float(t)))

    def check_code_width(self, z):
        """float32 [N, D], D checked in the graph too (served requests)."""
        return checks.code_width(self.check_codes(z), self.num_dims)

    def check_temperature(self, temperature):
        """float32 [N] >= 0, asserted in the graph (served requests)."""
        t = tf.convert_to_tensor(temperature, tf.float32)
        check = tf.debugging.assert_non_negative(t, message="temperature must be >= 0")
        with tf.control_dependencies([check]):
            return tf.identity(t)

    # ------------------------------------------------------------ training
    metric_names = ("loss", "bits_per_dim")

    def loss_terms(self, images, labels, training):
        rows = tf.shape(images)[0]
        if training:
            noise = self.training_noise(lambda n, seed: tf.random.stateless_uniform(
                tf.concat([[n], self.image_shape], 0), seed=seed), rows)
        else:
            noise = self.dequantization_noise(rows)
        log_p = self._log_density(dequantize(images, noise), training=training)
        # Nats per dimension of the 8-bit bound keeps the learning rate
        # independent of the image size.
        nats = -(log_p - self.num_dims * math.log(DATA_LEVELS)) / self.num_dims
        return {"loss": nats, "bits_per_dim": nats / math.log(2.0)}

    def call(self, inputs, training=False):
        return self._log_prob(inputs)

    # -------------------------------------------------------------- export
    def serving_endpoints(self):
        """Adds `log_prob` (images -> nats and bits/dim of the 8-bit bound),
        `log_density` (continuous images y in [0, 1] -> log p(y)),
        `encode` (images -> z), `decode` (z -> images) and
        `sample_temperature` (seed, temperature [N] -> images)."""
        endpoints = super().serving_endpoints()
        t_spec = tf.TensorSpec((None,), tf.float32, name="temperature")

        def log_prob(images):
            nats = self._log_prob(self.check_images(images))
            return {"log_prob": nats,
                    "bits_per_dim": -nats / (self.num_dims * math.log(2.0))}

        endpoints["log_prob"] = self.endpoint(log_prob, self.image_spec())
        # The continuous density, for callers that dequantize themselves
        # (`training.likelihood.evaluate` draws fresh noise per batch).
        endpoints["log_density"] = self.endpoint(
            lambda images: {"log_density": self._log_density(self.check_images(images))},
            self.image_spec())
        endpoints["encode"] = self.endpoint(
            lambda images: {"z": self._encode(self.check_images(images))}, self.image_spec())
        endpoints["decode"] = self.endpoint(
            lambda z: {"images": self._decode(self.check_code_width(z))}, self.z_spec())
        endpoints["sample_temperature"] = self.endpoint(
            lambda seed, temperature: {"images": self._sample(
                checks.seeds(seed), self.check_temperature(temperature))},
            self.seed_spec(), t_spec)
        return endpoints
