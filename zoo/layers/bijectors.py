"""Invertible steps of normalizing flows, and their view as a `tfb.Bijector`.

Every step is a Keras 3 layer (so a model holding it saves its weights)
with two directions:

  call(x, training) -> (z, log_det)   data towards noise, f in [1];
                                      log_det [N] = log |det df/dx|
  reverse(z) -> x                     f^-1, noise towards data

so log p(x) = log p(f(x)) + log |det df/dx| ([1], eq. 3) sums the steps'
`log_det`. `FlowBijector` wraps a chain of steps as a `tfb.Bijector`
(its forward is the generative direction f^-1, TFP's convention), which
makes a flow a `tfd.TransformedDistribution` for TFP users.

References:
  [1] Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP.
      ICLR 2017.
  [2] Kingma, Dhariwal. Glow: Generative Flow with Invertible 1x1
      Convolutions. NeurIPS 2018.
  [3] Dinh, Krueger, Bengio. NICE: Non-linear Independent Components
      Estimation. ICLR workshop 2015.
"""

import keras
import numpy as np
import scipy.linalg
import tensorflow as tf
import tensorflow_probability as tfp

tfb = tfp.bijectors


def sum_except_batch(x):
    """[N, ...] -> [N]."""
    return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def spatial_size(x):
    """Number of positions that share per-channel parameters (H * W, or 1)."""
    return int(np.prod(x.shape[1:-1])) if len(x.shape) > 2 else 1


class Step(keras.layers.Layer):
    """Base of the flow steps: `call(x, training)` -> (z, log_det), `reverse(z)`."""

    def reverse(self, z):
        raise NotImplementedError


class Logit(Step):
    """Data in [0, 1] to the real line: z = logit(alpha + (1 - 2 alpha) x).

    The squeeze into [alpha, 1 - alpha] keeps the logit finite at 0 and 1
    ([1], sec. 4.1, alpha = 0.05). With `alpha=None` the data are only
    centred, z = x - 1/2, a density on the reals as in [3].
    """

    def __init__(self, alpha=0.05, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, x, training=False):
        if self.alpha is None:
            return x - 0.5, tf.zeros([tf.shape(x)[0]])
        s = self.alpha + (1.0 - 2.0 * self.alpha) * x
        log_s, log_1ms = tf.math.log(s), tf.math.log1p(-s)
        log_det = np.log(1.0 - 2.0 * self.alpha) - log_s - log_1ms
        return log_s - log_1ms, sum_except_batch(log_det)

    def reverse(self, z):
        if self.alpha is None:
            return z + 0.5
        return (tf.sigmoid(z) - self.alpha) / (1.0 - 2.0 * self.alpha)

    def support(self):
        """(low, high) of the x whose image is the whole real line."""
        if self.alpha is None:
            return (-np.inf, np.inf)
        return (-self.alpha / (1 - 2 * self.alpha), (1 - self.alpha) / (1 - 2 * self.alpha))


class Squeeze(Step):
    """[N, H, W, C] -> [N, H/2, W/2, 4C], each 2x2 block into channels ([1], sec. 3.6)."""

    def call(self, x, training=False):
        return tf.nn.space_to_depth(x, 2), tf.zeros([tf.shape(x)[0]])

    def reverse(self, z):
        return tf.nn.depth_to_space(z, 2)


class Flatten(Step):
    """[N, H, W, C] -> [N, H * W * C], for flows on vectors."""

    def __init__(self, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)

    def call(self, x, training=False):
        return tf.reshape(x, [tf.shape(x)[0], -1]), tf.zeros([tf.shape(x)[0]])

    def reverse(self, z):
        return tf.reshape(z, (-1,) + self.image_shape)


class ActNorm(Step):
    """z = (x + b) * exp(s) per channel, initialized from the first training
    batch so z has zero mean and unit variance per channel ([2], sec. 3.1).

    The initialization runs inside the first training step (a non-trainable
    flag says whether it has), so plain `fit` does it; under `tf.distribute`
    the moments are those of the global batch, the same on every replica.
    """

    def build(self, input_shape):
        c = input_shape[-1]
        self.bias = self.add_weight(name="bias", shape=(c,), initializer="zeros",
                                    aggregation="mean")
        self.log_scale = self.add_weight(name="log_scale", shape=(c,), initializer="zeros",
                                         aggregation="mean")
        self.initialized = self.add_weight(name="initialized", shape=(), initializer="zeros",
                                           trainable=False, aggregation="mean")

    def _start_values(self, x):
        """(bias, log_scale) that standardize the global batch `x` per channel."""
        axes = list(range(len(x.shape) - 1))
        x = tf.cast(x, tf.float32)
        sums = [tf.reduce_sum(x, axes), tf.reduce_sum(tf.square(x), axes),
                tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)]
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # Moments of the global batch: every replica starts from the
            # values one device would compute.
            sums = context.all_reduce("sum", sums)
        mean = sums[0] / sums[2]
        var = tf.maximum(sums[1] / sums[2] - tf.square(mean), 0.0)
        return -mean, -0.5 * tf.math.log(var + 1e-6)

    def call(self, x, training=False):
        if training:
            # Written on every training step, with the current values once
            # started: a tf.cond around the writes would hide a replica
            # synchronization inside control flow, which tf.distribute forbids.
            bias, log_scale = self._start_values(x)
            first = self.initialized < 0.5
            self.bias.assign(tf.where(first, bias, self.bias))
            self.log_scale.assign(tf.where(first, log_scale, self.log_scale))
            self.initialized.assign(tf.ones_like(self.initialized))
        z = (x + self.bias) * tf.exp(self.log_scale)
        log_det = spatial_size(x) * tf.reduce_sum(self.log_scale)
        return z, tf.fill([tf.shape(x)[0]], log_det)

    def reverse(self, z):
        return z * tf.exp(-self.log_scale) - self.bias


class DiagonalScale(Step):
    """z = x * exp(s) with one learned s per dimension ([3], sec. 3.3)."""

    def build(self, input_shape):
        self.log_scale = self.add_weight(name="log_scale", shape=tuple(input_shape[1:]),
                                         initializer="zeros")

    def call(self, x, training=False):
        z = x * tf.exp(self.log_scale)
        return z, tf.fill([tf.shape(x)[0]], tf.reduce_sum(self.log_scale))

    def reverse(self, z):
        return z * tf.exp(-self.log_scale)


class Invertible1x1(Step):
    """A 1x1 convolution z = x W over channels, W invertible ([2], sec. 3.2).

    W starts as a random rotation. With `lu=True` it is W = P L (U +
    diag(sign * exp(log_s))) with P fixed, L unit lower and U strictly
    upper triangular, so log |det W| = sum(log_s) costs O(C) ([2], eq. 10).

    Args:
      channels: C.
      lu: the LU-decomposed parameterization.
      seed: int for the initial rotation.
    """

    def __init__(self, channels, lu=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.lu = int(channels), bool(lu)
        rng = np.random.default_rng(seed)
        w0 = np.linalg.qr(rng.normal(size=(self.channels, self.channels)))[0]
        self._w0 = w0.astype(np.float32)
        if self.lu:
            p, lower, upper = scipy.linalg.lu(w0)
            s = np.diag(upper)
            self._p = p.astype(np.float32)
            self._sign = np.sign(s).astype(np.float32)
            self._lu_init = (lower.astype(np.float32), np.triu(upper, 1).astype(np.float32),
                             np.log(np.abs(s)).astype(np.float32))

    def build(self, input_shape):
        c = self.channels
        if self.lu:
            lower, upper, log_s = self._lu_init
            self.lower = self.add_weight(name="lower", shape=(c, c),
                                         initializer=keras.initializers.Constant(lower))
            self.upper = self.add_weight(name="upper", shape=(c, c),
                                         initializer=keras.initializers.Constant(upper))
            self.log_s = self.add_weight(name="log_s", shape=(c,),
                                         initializer=keras.initializers.Constant(log_s))
        else:
            self.kernel = self.add_weight(name="kernel", shape=(c, c),
                                          initializer=keras.initializers.Constant(self._w0))

    def weight_and_log_det(self):
        """(W [C, C], log |det W|)."""
        if not self.lu:
            return self.kernel, tf.linalg.slogdet(self.kernel)[1]
        c = self.channels
        lower = tf.linalg.band_part(self.lower, -1, 0) * (1 - np.eye(c, dtype=np.float32)) \
            + np.eye(c, dtype=np.float32)
        upper = tf.linalg.band_part(self.upper, 0, -1) * (1 - np.eye(c, dtype=np.float32))
        upper = upper + tf.linalg.diag(self._sign * tf.exp(self.log_s))
        return tf.matmul(self._p, tf.matmul(lower, upper)), tf.reduce_sum(self.log_s)

    def call(self, x, training=False):
        w, log_det = self.weight_and_log_det()
        z = tf.einsum("...c,cd->...d", x, w)
        return z, tf.fill([tf.shape(x)[0]], spatial_size(x) * log_det)

    def reverse(self, z):
        w, _ = self.weight_and_log_det()
        return tf.einsum("...c,cd->...d", z, tf.linalg.inv(w))


class FlowBijector(tfb.Bijector):
    """A chain of flow steps as a `tfb.Bijector` on images [N, H, W, C].

    TFP's forward is the generative direction: noise z (the flow's latent
    layout, [N, D]) to data x. `to_latent(x, training)` -> (z, log_det) and
    `from_latent(z)` -> x are the flow's two directions.
    """

    def __init__(self, to_latent, from_latent, image_shape, name="flow"):
        self._to_latent, self._from_latent = to_latent, from_latent
        super().__init__(forward_min_event_ndims=1, inverse_min_event_ndims=3,
                         is_constant_jacobian=False, name=name)
        self._image_shape = tuple(image_shape)

    def _forward(self, z):
        return self._from_latent(z)

    def _inverse(self, x):
        return self._to_latent(x)[0]

    def _inverse_log_det_jacobian(self, x):
        return self._to_latent(x)[1]

    def _forward_event_shape_tensor(self, shape):
        return tf.constant(self._image_shape, tf.int32)

    def _forward_event_shape(self, shape):
        return tf.TensorShape(self._image_shape)

    def _inverse_event_shape_tensor(self, shape):
        return tf.constant([int(np.prod(self._image_shape))], tf.int32)

    def _inverse_event_shape(self, shape):
        return tf.TensorShape([int(np.prod(self._image_shape))])
