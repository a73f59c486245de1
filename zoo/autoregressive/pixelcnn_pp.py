"""PixelCNN++: shifted convolutions, gated resnets, discretized logistic mixture."""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import checks
from zoo.autoregressive.base import AutoregressiveModel, gumbel
from zoo.layers.autoregressive import (GatedResnet, ShiftedConv2D, concat_elu,
                                       down_shift, right_shift)
from zoo.registry import register

tfd = tfp.distributions
tfb = tfp.bijectors

# Floor on log-scales (in [-1, 1] units), as in [1]'s reference code, so a
# component cannot collapse onto a single level with infinite density.
_MIN_LOG_SCALE = -7.0


def _block_seed(seed, index):
    """Dropout seed of block `index`, a function of the model seed alone.

    Blocks given one seed would drop the same units in every block; hashing
    (seed, index) also keeps model seed s from reusing the seeds of s + 1.
    """
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)


@register("pixelcnn_pp")
class PixelCNNPlusPlus(AutoregressiveModel):
    """PixelCNN++ at one resolution ([1]).

    Two streams: `u` sees the rows above (down-shifted 2x3 convolutions),
    `ul` the rows above and the pixels to the left (down-right-shifted 2x2
    convolutions, fed by `u`), so there is no blind spot ([1], section
    2.5). Each stream is a stack of gated resnet blocks with concat_elu and
    dropout ([1], sections 2.4 and 2.6). A pixel's C channels share a
    mixture of `num_mixtures` discretized logistics whose means depend
    linearly on the pixel's earlier channels ([1], eq. 2-3); the likelihood
    is a `tfd.MixtureSameFamily` of `tfd.QuantizedDistribution`s.

    This model has no down/up-sampling hierarchy (`tfd.PixelCNN` with
    `num_hierarchies=1` is the same architecture family).

    Args:
      image_shape: (H, W, C).
      num_levels: grey levels per channel (256 for 8-bit images).
      filters: channels of both streams.
      num_resnet: gated resnet blocks per stream.
      num_mixtures: logistic components per pixel.
      dropout: dropout rate in the blocks.
      seed: seeds the dropout; each block draws its masks from its own
        seed, derived from this one and the block's index.

    References:
      [1] Salimans, Karpathy, Chen, Kingma. PixelCNN++: Improving the
          PixelCNN with Discretized Logistic Mixture Likelihood and Other
          Modifications. ICLR 2017.
    """

    def __init__(self, image_shape=(28, 28, 1), num_levels=256, filters=32,
                 num_resnet=2, num_mixtures=5, dropout=0.5, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, num_levels=num_levels,
                         num_classes=None, seed=seed, **kwargs)
        self.filters = checks.positive_int("filters", filters)
        self.num_resnet = checks.positive_int("num_resnet", num_resnet)
        self.num_mixtures = checks.positive_int("num_mixtures", num_mixtures)
        self.dropout = checks.number("dropout", dropout, 0.0, 1.0, high_open=True)
        f, c, m = self.filters, self.image_shape[-1], self.num_mixtures
        self.num_coeffs = c * (c - 1) // 2
        self.u_init = ShiftedConv2D(f, (2, 3), "down", name="u_init")
        self.ul_init_down = ShiftedConv2D(f, (1, 3), "down", name="ul_init_down")
        self.ul_init_right = ShiftedConv2D(f, (2, 1), "down_right", name="ul_init_right")
        self.u_blocks = [GatedResnet(f, (2, 3), "down", self.dropout,
                                     seed=_block_seed(seed, 2 * i),
                                     name=f"u{i}") for i in range(self.num_resnet)]
        self.ul_blocks = [GatedResnet(f, (2, 2), "down_right", self.dropout,
                                      seed=_block_seed(seed, 2 * i + 1),
                                      name=f"ul{i}") for i in range(self.num_resnet)]
        self.out = keras.layers.Dense(m * (1 + 2 * c + self.num_coeffs), name="out")
        self._finish_build()

    noise_depth = property(lambda self: self.num_mixtures + 1)

    def _network(self, x, labels=None, training=False):
        # A channel of ones lets the zero padding mark the image border ([1] code).
        x = tf.concat([x, tf.ones_like(x[..., :1])], axis=-1)
        u = down_shift(self.u_init(x))
        ul = down_shift(self.ul_init_down(x)) + right_shift(self.ul_init_right(x))
        for u_block, ul_block in zip(self.u_blocks, self.ul_blocks):
            u = u_block(u, training=training)
            ul = ul_block(ul, aux=u, training=training)
        return self.out(tf.nn.elu(ul))

    # ------------------------------------------------------- likelihood
    def _split(self, params):
        """logits [..., M], loc and log_scale [..., C, M], coeffs [..., K, M]."""
        c, m = self.image_shape[-1], self.num_mixtures
        batch = tf.shape(params)[:-1]
        logits, loc, log_scale, coeffs = tf.split(
            params, [m, c * m, c * m, self.num_coeffs * m], axis=-1)
        shape = lambda k: tf.concat([batch, [k, m]], 0)
        return (logits, tf.reshape(loc, shape(c)),
                tf.maximum(tf.reshape(log_scale, shape(c)), _MIN_LOG_SCALE),
                tf.tanh(tf.reshape(coeffs, shape(self.num_coeffs))))

    def _means(self, loc, coeffs, x):
        """Channel means given the pixel's earlier channels x [..., C] ([1] eq. 3)."""
        c = self.image_shape[-1]
        means, k = [], 0
        for ch in range(c):
            mean = loc[..., ch, :]
            for j in range(ch):
                mean = mean + coeffs[..., k, :] * x[..., j, None]
                k += 1
            means.append(mean)
        return tf.stack(means, axis=-2)  # [..., C, M]

    def _to_level_scale(self, means, log_scale):
        half = (self.num_levels - 1) / 2.0
        return (means + 1.0) * half, tf.exp(log_scale) * half

    def pixel_distribution(self, params, levels):
        """Per-pixel mixture, batch [N, H, W], event [C], as a `tfd` distribution.

        The channel means use the pixel's own earlier channels, so the
        distribution is specific to `levels` (valid for its `log_prob`).
        """
        logits, loc, log_scale, coeffs = self._split(params)
        means = self._means(loc, coeffs, self.levels_to_input(levels))
        center, scale = self._to_level_scale(means, log_scale)
        perm = [0, 1, 2, 4, 3]  # components first: [N, H, W, M, C]
        logistic = tfd.Logistic(tf.transpose(center, perm), tf.transpose(scale, perm))
        # Shifting by -1/2 and quantizing with ceil puts level k on
        # [k - 1/2, k + 1/2]; the edge levels absorb the tails ([1] eq. 2).
        quantized = tfd.QuantizedDistribution(
            tfd.TransformedDistribution(logistic, tfb.Shift(-0.5)),
            low=0.0, high=float(self.num_levels - 1))
        return tfd.MixtureSameFamily(tfd.Categorical(logits=logits),
                                     tfd.Independent(quantized, 1))

    def _log_prob_terms(self, params, levels, x):
        return self.pixel_distribution(params, levels).log_prob(levels)  # [N, H, W]

    def _sample_channel(self, params, values, noise, channel):
        params = tf.cast(params, tf.float32)
        m = self.num_mixtures
        logits, loc, log_scale, coeffs = self._split(params)
        # One component per pixel, shared by its channels ([1] section 2.2).
        component = tf.one_hot(tf.argmax(logits + gumbel(noise[:, 0, :m]), -1), m)
        means = self._means(loc, coeffs, self.levels_to_input(values))
        center, scale = self._to_level_scale(means, log_scale)
        pick = lambda t: tf.reduce_sum(tf.gather(t, channel, axis=1) * component, -1)
        u = tf.gather(noise, channel, axis=1)[:, m]
        y = pick(center) + pick(scale) * (tf.math.log(u) - tf.math.log1p(-u))
        return tf.clip_by_value(tf.math.ceil(y - 0.5), 0.0, float(self.num_levels - 1))

    # ----------------------------------------------------- cached sampler
    def _u_stream(self, x):
        """The up stream (rows above only) and the first `ul` term, full image."""
        x = tf.concat([x, tf.ones_like(x[..., :1])], axis=-1)
        u = down_shift(self.u_init(x))
        aux = []
        for u_block in self.u_blocks:
            u = u_block(u, training=False)
            aux.append(u)
        return aux, down_shift(self.ul_init_down(x))

    def _complete_cached(self, levels, known_rows, noise, labels=None):
        return self._cached_loop(levels, known_rows, noise)

    @tf.function(reduce_retracing=True)
    def _cached_loop(self, levels, known_rows, noise):
        """Row-cached sampling (Ramachandran et al. 2017): the `u` stream,
        which sees only rows above, runs once per row; the `ul` stream once
        per new dimension at one position, from per-layer buffers of the
        2 x 2 windows its down-right convolutions read. Rows are all
        revisited (known ones keep their values), so buffers fill in order."""
        h, w, c = self.image_shape
        canvas, row_known, _ = self._start(levels, known_rows)
        n = tf.shape(canvas)[0]
        f = self.filters
        # Position-major buffers [H + 1, W + 1, N, ch], zero top row and left
        # column: the padding of the down-right convolutions.
        zeros = lambda ch: tf.zeros([h + 1, w + 1, n, ch], self.compute_dtype)
        x_buf = zeros(c + 1)
        a_bufs = [zeros(2 * f) for _ in range(self.num_resnet)]
        b_bufs = [zeros(2 * f) for _ in range(self.num_resnet)]

        def put(buf, r, col, value):
            return tf.tensor_scatter_nd_update(buf, [[r + 1, col + 1]], tf.cast(value, buf.dtype)[None])

        def pixel_step(r, aux, down, step, canvas, x_buf, a_bufs, b_bufs):
            col, channel = step // c, step % c
            left = tf.cast(col > 0, self.compute_dtype)  # right_shift: zeros in column 0
            ul = down[:, col] + left * self.ul_init_right.call_at(
                tf.slice(x_buf, [r, col, 0, 0], [2, 1, -1, -1]))
            new_a, new_b = [], []
            for i, block in enumerate(self.ul_blocks):
                a_buf = put(a_bufs[i], r, col, concat_elu(ul))
                hidden = block.conv_in.call_at(tf.slice(a_buf, [r, col, 0, 0], [2, 2, -1, -1]))
                hidden = hidden + block.nin(concat_elu(aux[i][:, col]))
                b_buf = put(b_bufs[i], r, col, concat_elu(hidden))
                gate_a, gate_b = tf.split(
                    block.conv_out.call_at(tf.slice(b_buf, [r, col, 0, 0], [2, 2, -1, -1])), 2, -1)
                ul = ul + gate_a * tf.sigmoid(gate_b)
                new_a.append(a_buf)
                new_b.append(b_buf)
            params = self.out(tf.nn.elu(ul))
            value = self._sample_channel(params, canvas[:, r, col], noise[:, r, col], channel)
            canvas = self._write(canvas, (r * w + col) * c + channel, value, row_known, r)
            x = self.levels_to_input(canvas[:, r, col])
            x_buf = put(x_buf, r, col, tf.concat([x, tf.ones_like(x[:, :1])], -1))
            return step + 1, canvas, x_buf, new_a, new_b

        def row_step(r, canvas, x_buf, a_bufs, b_bufs):
            aux, down = self._u_stream(self.levels_to_input(canvas))
            aux, down = [a[:, r] for a in aux], down[:, r]
            _, canvas, x_buf, a_bufs, b_bufs = tf.while_loop(
                lambda step, *_: step < w * c,
                lambda *args: pixel_step(r, aux, down, *args),
                (0, canvas, x_buf, a_bufs, b_bufs))
            return r + 1, canvas, x_buf, a_bufs, b_bufs

        _, canvas, *_ = tf.while_loop(lambda r, *_: r < h, row_step,
                                      (0, canvas, x_buf, a_bufs, b_bufs))
        return canvas
