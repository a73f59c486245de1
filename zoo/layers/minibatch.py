"""Minibatch discrimination (Salimans et al. 2016, sec. 3.2)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="zoo")
class MinibatchDiscrimination(keras.layers.Layer):
    """Appends to each row's features how close it is to the other rows.

    With M_i = f(x_i) T reshaped to [B, C], o(x_i)_b = sum_{j != i}
    exp(-||M_i,b - M_j,b||_1) for each of B kernels; a collapsed generator
    makes these large, which the discriminator can see. The output of a row
    depends on the rest of its batch (as in the paper), so a served
    signature through this layer is not row-independent.

    Args:
      num_kernels: B.
      kernel_dim: C.
    """

    def __init__(self, num_kernels, kernel_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim

    def build(self, input_shape):
        self.tensor = self.add_weight(
            name="tensor", shape=(input_shape[-1], self.num_kernels * self.kernel_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.05))

    def call(self, features):
        m = tf.reshape(tf.matmul(features, tf.cast(self.tensor, features.dtype)),
                       [-1, self.num_kernels, self.kernel_dim])
        l1 = tf.reduce_sum(tf.abs(m[:, None] - m[None]), -1)     # [N, N, B]
        # exp(0) = 1 for j = i; subtracting it leaves the other rows.
        closeness = tf.reduce_sum(tf.exp(-l1), 1) - 1.0
        return tf.concat([features, closeness], -1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + self.num_kernels,)

    def get_config(self):
        return {**super().get_config(), "num_kernels": self.num_kernels,
                "kernel_dim": self.kernel_dim}
