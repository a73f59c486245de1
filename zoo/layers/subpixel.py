"""Sub-pixel convolution (Shi et al. 2016): upsampling by rearranging channels."""

import keras
import tensorflow as tf


def pixel_shuffle(x, factor):
    """[N, H, W, C r^2] -> [N, H r, W r, C] with out[n, h r + i, w r + j, c] =
    x[n, h, w, (i r + j) C + c] ([1], eq. 4's periodic shuffling), written
    with reshapes so it can be checked against `tf.nn.depth_to_space`."""
    n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    c = x.shape[-1] // (factor * factor)
    x = tf.reshape(x, [n, h, w, factor, factor, c])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [n, h * factor, w * factor, c])


class SubPixelUpsample(keras.layers.Layer):
    """A 3x3 convolution to C r^2 channels, then `pixel_shuffle` by r.

    Args:
      channels: C, the output channels.
      factor: r.

    References:
      [1] Shi et al. Real-Time Single Image and Video Super-Resolution Using
          an Efficient Sub-Pixel Convolutional Neural Network. CVPR 2016.
    """

    def __init__(self, channels, factor, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.factor = channels, factor
        self.conv = keras.layers.Conv2D(channels * factor * factor, 3, padding="same")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        return pixel_shuffle(self.conv(x), self.factor)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        scale = lambda d: None if d is None else d * self.factor  # noqa: E731
        return (n, scale(h), scale(w), self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "factor": self.factor}
