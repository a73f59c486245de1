"""PixelRNN: Row LSTM and Diagonal BiLSTM layers with a per-channel head."""

import keras
import tensorflow as tf

from zoo import checks
from zoo.autoregressive.base import AutoregressiveModel, PerChannelHead
from zoo.layers.autoregressive import MaskedConv2D, down_shift
from zoo.registry import register

VARIANTS = ("row", "diagonal")


def _lstm_update(z, c):
    """One LSTM step from pre-activations z = [i, f, o, g] ([1] eq. 3)."""
    i, f, o, g = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c


class RowLSTM(keras.layers.Layer):
    """Row LSTM ([1], section 3.1): processes the image row by row.

    Input-to-state is a 1 x k mask-B convolution of the current row;
    state-to-state a 1-D convolution (width k) of the previous row's hidden
    state, so the receptive field is a triangle above the pixel.

    Args:
      units: hidden units (a multiple of num_groups).
      num_groups: image channels C.
      kernel_size: odd k.
    """

    def __init__(self, units, num_groups=1, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.units, self.num_groups, self.kernel_size = units, num_groups, kernel_size
        self.input_to_state = MaskedConv2D(4 * units, (1, kernel_size), "B", num_groups)

    def build(self, input_shape):
        self.state_kernel = self.add_weight(
            name="state_kernel", shape=(self.kernel_size, self.units, 4 * self.units),
            initializer="glorot_uniform")

    def call(self, x):
        gates = tf.transpose(self.input_to_state(x), [1, 0, 2, 3])  # [H, N, W, 4u]
        zeros = tf.zeros_like(gates[0][..., :self.units])

        def step(state, row_gates):
            h, c = state
            z = row_gates + tf.nn.conv1d(h, self.state_kernel, 1, "SAME")
            return _lstm_update(z, c)

        hidden, _ = tf.scan(step, gates, initializer=(zeros, zeros))
        return tf.transpose(hidden, [1, 0, 2, 3])


def skew(x):
    """[N, H, W, F] -> [N, H, W + H - 1, F], row r shifted right by r ([1] fig. 3)."""
    h = x.shape[1]
    return tf.stack([tf.pad(x[:, r], [[0, 0], [r, h - 1 - r], [0, 0]]) for r in range(h)], 1)


def unskew(x, width):
    """Inverse of `skew`."""
    return tf.stack([x[:, r, r:r + width] for r in range(x.shape[1])], 1)


class DiagonalBiLSTM(keras.layers.Layer):
    """Diagonal BiLSTM ([1], section 3.2).

    On the skewed map each column is a diagonal of the image; a column LSTM
    with a 2 x 1 state-to-state convolution then sees the pixel above and the
    pixel to the left. The right-to-left direction runs on the mirrored image
    and is shifted down one row so the layer stays causal.

    Args:
      units: hidden units (a multiple of num_groups).
      num_groups: image channels C.
    """

    def __init__(self, units, num_groups=1, **kwargs):
        super().__init__(**kwargs)
        self.units, self.num_groups = units, num_groups
        self.forward_in = MaskedConv2D(4 * units, 1, "B", num_groups)
        self.backward_in = MaskedConv2D(4 * units, 1, "B", num_groups)

    def build(self, input_shape):
        shape = (2, self.units, 4 * self.units)
        self.forward_kernel = self.add_weight(name="forward_kernel", shape=shape,
                                              initializer="glorot_uniform")
        self.backward_kernel = self.add_weight(name="backward_kernel", shape=shape,
                                               initializer="glorot_uniform")

    def _direction(self, gates, kernel):
        width = gates.shape[2]
        columns = tf.transpose(skew(gates), [2, 0, 1, 3])  # [W + H - 1, N, H, 4u]
        zeros = tf.zeros_like(columns[0][..., :self.units])

        def step(state, column_gates):
            h, c = state
            above = tf.pad(h[:, :-1], [[0, 0], [1, 0], [0, 0]])
            z = column_gates + tf.einsum("nhu,uv->nhv", above, kernel[0]) + \
                tf.einsum("nhu,uv->nhv", h, kernel[1])
            return _lstm_update(z, c)

        hidden, _ = tf.scan(step, columns, initializer=(zeros, zeros))
        return unskew(tf.transpose(hidden, [1, 2, 0, 3]), width)

    def call(self, x):
        forward = self._direction(self.forward_in(x), self.forward_kernel)
        mirrored = tf.reverse(x, axis=[2])
        backward = tf.reverse(self._direction(self.backward_in(mirrored),
                                              self.backward_kernel), axis=[2])
        return forward + down_shift(backward)


@register("pixelrnn")
class PixelRNN(PerChannelHead, AutoregressiveModel):
    """PixelRNN ([1]) for small images.

    A 7x7 mask-A convolution to 2 * units features, `num_layers` residual
    recurrent layers (Row LSTM or Diagonal BiLSTM, each followed by a 1x1
    mask-B convolution back to 2 * units, [1] fig. 5), then two 1x1 mask-B
    layers giving the per-channel Bernoulli / categorical logits.

    Args:
      image_shape: (H, W, C).
      num_levels: 2 (Bernoulli) or grey levels per channel.
      variant: "row" (Row LSTM) or "diagonal" (Diagonal BiLSTM).
      units: LSTM hidden units (a multiple of C).
      num_layers: recurrent layers.
      first_kernel_size: odd size of the first (mask A) convolution.
      seed: unused randomness seed kept for the shared interface.

    References:
      [1] van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural
          Networks. ICML 2016.
    """

    def __init__(self, image_shape=(28, 28, 1), num_levels=2, variant="row", units=32,
                 num_layers=2, first_kernel_size=7, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, num_levels=num_levels,
                         num_classes=None, seed=seed, **kwargs)
        self.variant = checks.choice("variant", variant, VARIANTS)
        c = self.image_shape[-1]
        self.units = checks.multiple_of("units", units, c, "channels")
        self.num_layers = checks.positive_int("num_layers", num_layers)
        self.first_kernel_size = checks.odd_int("first_kernel_size", first_kernel_size)
        f = 2 * self.units
        self.first = MaskedConv2D(f, self.first_kernel_size, "A", c, name="first")
        make = (lambda i: RowLSTM(self.units, c, name=f"row_lstm{i}")) if variant == "row" \
            else (lambda i: DiagonalBiLSTM(self.units, c, name=f"diagonal_bilstm{i}"))
        self.recurrent = [make(i) for i in range(self.num_layers)]
        self.projections = [MaskedConv2D(f, 1, "B", c, name=f"proj{i}")
                            for i in range(self.num_layers)]
        self.head_hidden = MaskedConv2D(f, 1, "B", c, name="head_hidden")
        self.head_out = MaskedConv2D(self.output_channels, 1, "B", c, name="head_out")
        self._finish_build()

    def _network(self, x, labels=None, training=False):
        h = self.first(x)
        for rnn, proj in zip(self.recurrent, self.projections):
            h = h + proj(rnn(h))
        return self.head_out(tf.nn.relu(self.head_hidden(tf.nn.relu(h))))
