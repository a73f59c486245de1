"""The denoising U-Net of diffusion models, from Keras 3 layers.

Residual blocks with group normalization, SiLU and the time embedding
added to every block ([1] appendix B, after PixelCNN++'s U-Net), self-
attention at chosen resolutions, stride-2 convolutions down and nearest-
neighbour upsampling + convolution up. Odd sizes work: the upsampled map
is cropped to its skip connection's size (7 -> 4 -> 8 -> 7).

References:
  [1] Ho, Jain, Abbeel. Denoising Diffusion Probabilistic Models. NeurIPS 2020.
  [2] Vaswani et al. Attention Is All You Need. NeurIPS 2017 (the
      sinusoidal embedding, sec. 3.5).
  [3] Ho, Salimans. Classifier-Free Diffusion Guidance. 2022 (a learned
      null label for the unconditional model).
  [4] Dhariwal, Nichol. Diffusion Models Beat GANs on Image Synthesis.
      NeurIPS 2021.
"""

import math

import keras
from keras import ops

from zoo.layers.networks import network


class SinusoidalEmbedding(keras.layers.Layer):
    """[N] scalar times -> [N, dim] sin/cos features at geometric frequencies ([2])."""

    def __init__(self, dim, max_period=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.max_period = max_period

    def call(self, t):
        half = self.dim // 2
        freqs = ops.exp(-math.log(self.max_period) * ops.arange(half, dtype="float32") / half)
        args = ops.cast(t, "float32")[:, None] * freqs[None]
        return ops.cast(ops.concatenate([ops.sin(args), ops.cos(args)], -1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim // 2 * 2)


def _groups(channels):
    # [1]'s 32 groups at 128+ channels; narrower nets keep >= 4 channels a group.
    return math.gcd(channels, min(32, max(1, channels // 4)))


def _norm():
    def apply(h):
        return keras.layers.GroupNormalization(_groups(h.shape[-1]), epsilon=1e-5)(h)
    return apply


def _near_zero():
    # [1] zero-initializes these convolutions so that each block starts as
    # the identity; a tiny scale does the same without cutting every
    # earlier layer's gradient for the first steps.
    return keras.initializers.VarianceScaling(1e-5, "fan_avg", "uniform")


def residual_block(h, emb, channels, dropout=0.0):
    """GN-SiLU-conv, then GN modulated by the embedding, SiLU-dropout-conv
    (initialized near zero, so the block starts as the identity), and a 1x1
    skip when widths differ.

    The embedding scales and shifts the normalized features, GN(h) (1 + s)
    + b ([4] sec. 3, "adaptive group normalization"): a shift added before
    a group norm would be subtracted again by it.
    """
    skip = h
    h = keras.layers.Activation("silu")(_norm()(h))
    h = keras.layers.Conv2D(channels, 3, padding="same")(h)
    e = keras.layers.Dense(2 * channels)(keras.layers.Activation("silu")(emb))
    e = keras.layers.Reshape((1, 1, 2 * channels))(e)
    scale, shift = e[..., :channels], e[..., channels:]
    h = _norm()(h) * (1.0 + scale) + shift
    h = keras.layers.Activation("silu")(h)
    if dropout:
        h = keras.layers.Dropout(dropout)(h)
    h = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=_near_zero())(h)
    if skip.shape[-1] != channels:
        skip = keras.layers.Conv2D(channels, 1)(skip)
    return skip + h


def attention_block(h):
    """Single-head self-attention over the H*W positions, residual."""
    height, width, channels = h.shape[1:]
    x = keras.layers.Reshape((height * width, channels))(_norm()(h))
    x = keras.layers.MultiHeadAttention(num_heads=1, key_dim=channels)(x, x)
    return h + keras.layers.Reshape((height, width, channels))(x)


def unet(image_shape, widths=(32, 64), blocks_per_level=1, attention_levels=(1,),
         num_classes=None, dropout=0.0, name="unet"):
    """A functional U-Net: (x [N, H, W, C], t float32 [N] [, label int32 [N]]) ->
    [N, H, W, C] (noise, velocity or v, float32).

    Args:
      image_shape: (H, W, C).
      widths: channels of each resolution level; level l has (H, W) / 2^l.
      blocks_per_level: residual blocks per level on the way down (one
        more on the way up, as in [1]).
      attention_levels: indices into `widths` of the levels with
        self-attention (the bottleneck always has one).
      num_classes: None, or K: a label input with K + 1 embeddings, K being
        the null label of classifier-free guidance ([3]).
      dropout: dropout rate inside the residual blocks.
    """
    x_in = keras.Input(image_shape, name="x")
    t_in = keras.Input((), name="t")
    inputs = [x_in, t_in]
    emb_dim = 4 * widths[0]
    emb = SinusoidalEmbedding(widths[0])(t_in)
    emb = keras.layers.Dense(emb_dim, activation="silu")(emb)
    emb = keras.layers.Dense(emb_dim)(emb)
    if num_classes:
        label_in = keras.Input((), dtype="int32", name="label")
        inputs.append(label_in)
        emb = emb + keras.layers.Embedding(num_classes + 1, emb_dim)(label_in)

    h = keras.layers.Conv2D(widths[0], 3, padding="same")(x_in)
    skips = [h]
    for level, channels in enumerate(widths):
        for _ in range(blocks_per_level):
            h = residual_block(h, emb, channels, dropout)
            if level in attention_levels:
                h = attention_block(h)
            skips.append(h)
        if level < len(widths) - 1:
            h = keras.layers.Conv2D(channels, 3, strides=2, padding="same")(h)
            skips.append(h)
    h = residual_block(h, emb, widths[-1], dropout)
    h = attention_block(h)
    h = residual_block(h, emb, widths[-1], dropout)
    for level in reversed(range(len(widths))):
        for _ in range(blocks_per_level + 1):
            h = keras.layers.Concatenate()([h, skips.pop()])
            h = residual_block(h, emb, widths[level], dropout)
            if level in attention_levels:
                h = attention_block(h)
        if level > 0:
            target = skips[-1].shape[1:3]
            h = keras.layers.UpSampling2D(2, interpolation="nearest")(h)
            extra = (h.shape[1] - target[0], h.shape[2] - target[1])
            if any(extra):
                h = keras.layers.Cropping2D(((0, extra[0]), (0, extra[1])))(h)
            h = keras.layers.Conv2D(widths[level], 3, padding="same")(h)
    h = keras.layers.Activation("silu")(_norm()(h))
    out = keras.layers.Conv2D(image_shape[-1], 3, padding="same",
                              kernel_initializer=_near_zero())(h)
    return network(inputs, out, name)
