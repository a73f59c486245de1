"""NADE: a fully visible belief net whose conditionals share one hidden layer."""

import keras
import tensorflow as tf

from zoo import checks
from zoo.autoregressive.base import AutoregressiveModel, PerChannelHead
from zoo.registry import register


@register("nade")
class NADE(PerChannelHead, AutoregressiveModel):
    """Neural Autoregressive Distribution Estimator ([1]).

    Dimension d (raster order, channel by channel) gets the hidden layer
    h_d = sigmoid(c + W_<d x_<d) and the conditional p(x_d | x_<d) from
    V_d h_d + b_d ([1], eq. 4-5): a Bernoulli logit for 2 levels, else
    num_levels logits (the categorical generalization of the binary model).
    All D hidden layers share W, so a_d = a_{d-1} + W_{d-1} x_{d-1} and the
    exact log-likelihood costs O(HD) ([1], sec. 3), computed here as an
    exclusive cumulative sum. Sampling runs the same recursion one
    dimension at a time (`_complete_cached`), O(HD) per image; the naive
    sampler of the base, which reruns the whole network per dimension,
    gives the same images. Inputs enter as levels scaled to [-1, 1]; the
    ordering is fixed (order-agnostic training is not implemented).

    Args:
      image_shape: (H, W, C).
      num_levels: 2 (binary, the paper's model) or grey levels per channel.
      hidden_units: H, units of the shared hidden layer.
      seed: unused randomness seed kept for the shared interface.

    References:
      [1] Larochelle, Murray. The Neural Autoregressive Distribution
          Estimator. AISTATS 2011.
    """

    def __init__(self, image_shape=(28, 28, 1), num_levels=2, hidden_units=500,
                 seed=None, **kwargs):
        super().__init__(image_shape=image_shape, num_levels=num_levels,
                         num_classes=None, seed=seed, **kwargs)
        self.hidden_units = checks.positive_int("hidden_units", hidden_units)
        d, p = self.num_dims, self.logits_per_channel
        init = keras.initializers.RandomNormal(stddev=0.01, seed=seed)
        self.w = self.add_weight(name="w", shape=(d, self.hidden_units), initializer=init)
        self.c = self.add_weight(name="c", shape=(self.hidden_units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(d, self.hidden_units, p), initializer=init)
        self.b = self.add_weight(name="b", shape=(d, p), initializer="zeros")
        self._finish_build()

    def _network(self, x, labels=None, training=False):
        flat = tf.reshape(x, [-1, self.num_dims])
        w = tf.cast(self.w, flat.dtype)
        # a_d = c + sum_{j<d} W_j x_j for every d at once ([1], eq. 5).
        a = tf.cast(self.c, flat.dtype) + tf.cumsum(flat[:, :, None] * w[None], axis=1,
                                                    exclusive=True)
        logits = tf.einsum("ndh,dhp->ndp", tf.sigmoid(a), tf.cast(self.v, a.dtype))
        return self.dims_to_pixels(logits + tf.cast(self.b, a.dtype))

    @tf.function(reduce_retracing=True)
    def _complete_cached(self, levels, known_rows, noise, labels=None):
        h, w, c = self.image_shape
        p = self.logits_per_channel
        canvas, row_known, first = self._start(levels, known_rows)
        flat = tf.reshape(self.levels_to_input(canvas), [-1, self.num_dims])
        before = tf.cast(tf.range(self.num_dims) < first, tf.float32)
        a = self.c + tf.matmul(flat * before, self.w)

        def body(step, canvas, a):
            pixel, channel = step // c, step % c
            r, col = pixel // w, pixel % w
            logits = tf.matmul(tf.sigmoid(a), self.v[step]) + self.b[step]  # [N, P]
            # The head reads channel `channel`'s logits at k * C + channel.
            params = tf.reshape(logits[:, :, None] * tf.one_hot(channel, c)[None, None],
                                [-1, p * c])
            value = self._sample_channel(params, canvas[:, r, col], noise[:, r, col], channel)
            canvas = self._write(canvas, step, value, row_known, r)
            x = self.levels_to_input(tf.reshape(canvas, [-1, self.num_dims])[:, step])
            return step + 1, canvas, a + x[:, None] * self.w[step]

        _, canvas, _ = tf.while_loop(lambda step, *_: step < self.num_dims, body,
                                     (first, canvas, a))
        return canvas
