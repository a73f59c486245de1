"""Convolutions that only look at the past, for autoregressive image models.

Pixels are ordered in raster order (row by row, left to right) and, inside
a pixel, channel by channel (R, G, B). Feature maps carry that order too:
feature channel j belongs to channel group `j % num_groups`, and group g
at a pixel may depend on image channels < g of that pixel (mask A) or
<= g (mask B), besides every earlier pixel ([1], section 3.4).

References:
  [1] van den Oord, Kalchbrenner, Kavukcuoglu. Pixel Recurrent Neural
      Networks. ICML 2016.
  [2] van den Oord et al. Conditional Image Generation with PixelCNN
      Decoders. NeurIPS 2016.
  [3] Salimans, Karpathy, Chen, Kingma. PixelCNN++: Improving the PixelCNN
      with Discretized Logistic Mixture Likelihood and Other
      Modifications. ICLR 2017.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.errors import ConfigError
from zoo.layers.dropout import ReplicaDropout

MASK_TYPES = ("A", "B")


def causal_mask(kernel_size, in_channels, filters, mask_type, num_groups):
    """The 0/1 mask [kh, kw, in, out] of a masked convolution ([1], fig. 2).

    Taps below the centre row and right of the centre are zero; at the
    centre, output group g sees input groups < g (A) or <= g (B).
    """
    kh, kw = kernel_size
    mask = np.zeros((kh, kw, in_channels, filters), np.float32)
    ch, cw = kh // 2, kw // 2
    mask[:ch] = 1.0
    mask[ch, :cw] = 1.0
    in_group = np.arange(in_channels)[:, None] % num_groups
    out_group = np.arange(filters)[None, :] % num_groups
    centre = in_group < out_group if mask_type == "A" else in_group <= out_group
    mask[ch, cw] = centre.astype(np.float32)
    return mask



def _like(weight, x):
    """A weight in the dtype of the tensor it meets (bfloat16/float16 under a
    mixed-precision policy, whose variables stay float32)."""
    return tf.cast(weight, x.dtype)

class MaskedConv2D(keras.layers.Layer):
    """A "same" convolution whose kernel is `kernel * mask` by construction.

    The variable holds all taps, but the convolution only ever sees the
    masked product, so masked taps get zero gradient and cannot leak the
    future however the variable is updated ([1], section 3.4).

    Args:
      filters: output channels; a multiple of `num_groups`.
      kernel_size: int or (kh, kw), odd.
      mask_type: "A" (first layer: the current channel is hidden) or "B".
      num_groups: image channels C whose order is enforced (1 for grey).
      use_bias: whether to add a bias.

    Call args:
      inputs: float [N, H, W, in]; `in` a multiple of `num_groups`.
    """

    def __init__(self, filters, kernel_size, mask_type="B", num_groups=1,
                 use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        if len(self.kernel_size) != 2 or any(k < 1 or k % 2 == 0 for k in self.kernel_size):
            raise ConfigError(f"kernel_size must be odd, got {kernel_size!r}")
        self.mask_type = checks.choice("mask_type", mask_type, MASK_TYPES)
        self.num_groups = checks.positive_int("num_groups", num_groups)
        self.filters = checks.multiple_of("filters", filters, self.num_groups,
                                          "number of image channels")
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        if in_channels % self.num_groups:
            raise ConfigError(f"input channels ({in_channels}) must be a "
                              f"multiple of num_groups ({self.num_groups})")
        self.mask = tf.constant(causal_mask(self.kernel_size, in_channels, self.filters,
                                            self.mask_type, self.num_groups))
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (in_channels, self.filters),
            initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer="zeros") if self.use_bias else None

    def masked_kernel(self):
        kernel = tf.convert_to_tensor(self.kernel)
        return kernel * _like(self.mask, kernel)

    def call(self, inputs):
        y = tf.nn.conv2d(inputs, _like(self.masked_kernel(), inputs), 1, "SAME")
        return y + _like(self.bias, y) if self.use_bias else y

    def call_at(self, patch):
        """The output at one position from its input window.

        Args:
          patch: float [kh, kw, N, in], the input around the position with
            the same zero padding as `call`.

        Returns:
          float [N, filters], equal to `call(x)[:, r, c]`.
        """
        # The dtype a call through __call__ computes in, so cached activations
        # and full passes match under mixed precision.
        patch = tf.cast(patch, self.compute_dtype)
        y = tf.einsum("hwni,hwio->no", patch, _like(self.masked_kernel(), patch))
        return y + _like(self.bias, y) if self.use_bias else y


def down_shift(x):
    """Moves a feature map one row down (row 0 becomes zeros)."""
    return tf.pad(x[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])


def right_shift(x):
    """Moves a feature map one column right (column 0 becomes zeros)."""
    return tf.pad(x[:, :, :-1], [[0, 0], [0, 0], [1, 0], [0, 0]])


class ShiftedConv2D(keras.layers.Layer):
    """Convolution whose output at (r, c) only sees rows <= r ([3], section 2.5).

    "down": a kh x kw window on rows r-kh+1..r, centred on column c (kw odd).
    "down_right": a kh x kw window on rows r-kh+1..r and columns c-kw+1..c.
    Followed by `down_shift` / `right_shift` the output sees only earlier
    pixels, with no blind spot.

    Args:
      filters: output channels.
      kernel_size: (kh, kw).
      direction: "down" or "down_right".
    """

    def __init__(self, filters, kernel_size, direction="down", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        checks.choice("direction", direction, ("down", "down_right"))
        if direction == "down" and self.kernel_size[1] % 2 == 0:
            raise ConfigError("a down-shifted kernel needs an odd width")
        self.direction = direction
        kh, kw = self.kernel_size
        left = (kw - 1) // 2 if direction == "down" else kw - 1
        self.padding = [[0, 0], [kh - 1, 0], [left, kw - 1 - left], [0, 0]]

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_size + (int(input_shape[-1]), self.filters),
            initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs):
        y = tf.nn.conv2d(tf.pad(inputs, self.padding), _like(self.kernel, inputs), 1, "VALID")
        return y + _like(self.bias, y)

    def call_at(self, patch):
        """The output at one position from its input window [kh, kw, N, in]
        (the same zero padding as `call`); returns [N, filters]."""
        patch = tf.cast(patch, self.compute_dtype)
        y = tf.einsum("hwni,hwio->no", patch, _like(self.kernel, patch))
        return y + _like(self.bias, y)


def concat_elu(x):
    """ELU of [x, -x] along channels ([3], section 2.6)."""
    return tf.nn.elu(tf.concat([x, -x], axis=-1))


class GatedResnet(keras.layers.Layer):
    """PixelCNN++ gated residual block ([3], section 2.4).

    y = x + a * sigmoid(b),  [a, b] = conv(dropout(concat_elu(conv(concat_elu(x))
    + nin(concat_elu(aux))))), with convolutions shifted so that causality
    is kept.

    Args:
      filters: channels of x.
      kernel_size: (kh, kw) of the shifted convolutions.
      direction: "down" (the vertical stream) or "down_right".
      dropout: dropout rate inside the block.
      seed: seeds the dropout.

    Call args:
      x: [N, H, W, filters]; aux: optional [N, H, W, *] from the other stream.
    """

    def __init__(self, filters, kernel_size, direction, dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(kernel_size)
        self.direction = direction
        self.dropout_rate = float(dropout)
        self.seed = seed
        self.conv_in = ShiftedConv2D(filters, kernel_size, direction)
        self.conv_out = ShiftedConv2D(2 * filters, kernel_size, direction)
        self.nin = keras.layers.Dense(filters)
        self.dropout = ReplicaDropout(self.dropout_rate, seed=seed)

    def build(self, input_shape):
        # Sub-layers build on their first call, with their own input shapes.
        self.built = True

    def call(self, x, aux=None, training=False):
        h = self.conv_in(concat_elu(x))
        if aux is not None:
            h = h + self.nin(concat_elu(aux))
        h = self.dropout(concat_elu(h), training=training)
        a, b = tf.split(self.conv_out(h), 2, axis=-1)
        return x + a * tf.sigmoid(b)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size,
                      direction=self.direction, dropout=self.dropout_rate,
                      seed=self.seed)
        return config
