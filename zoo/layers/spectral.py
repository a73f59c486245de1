"""Spectral normalization of a layer's kernel (Miyato et al. 2018).

References:
  [1] Miyato, Kataoka, Koyama, Yoshida. Spectral Normalization for
      Generative Adversarial Networks. ICLR 2018.
"""

import keras
from keras import ops

from zoo import checks


def _l2_normalize(x, eps=1e-12):
    return x / ops.sqrt(ops.sum(ops.square(x)) + eps)


@keras.saving.register_keras_serializable(package="zoo")
class SpectralNormalization(keras.layers.Wrapper):
    """Runs a kernel layer (`Dense`, `Conv2D`, ...) with W / sigma(W).

    sigma(W) is the largest singular value of the kernel reshaped to
    [fan_in, units], estimated by power iteration with one persistent
    vector `u` per layer ([1], Algorithm 1): every training call makes
    `power_iterations` steps from the stored `u` and stores the result;
    inference reads `u` without moving it, so a served or reloaded model
    gives the same outputs as the trained one. `u` is a non-trainable
    weight: `.keras` files, checkpoints and SavedModels hold it. Gradients
    flow through sigma(W) to W ([1], sec. 2.2); `u` and `v` are constants
    for the gradient, as in [1].

    Args:
      layer: a Keras layer with a `kernel` whose last axis is its units.
      power_iterations: power-iteration steps per training call (>= 1; [1]
        uses 1).
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        self.power_iterations = checks.positive_int("power_iterations", power_iterations)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel = getattr(self.layer, "kernel", None)
        if kernel is None:
            raise ValueError(f"SpectralNormalization needs a layer with a kernel, got "
                             f"{type(self.layer).__name__}")
        self.u = self.add_weight(
            name="u", shape=(1, kernel.shape[-1]),
            initializer=keras.initializers.RandomNormal(), trainable=False,
            # Every replica computes the same u (it depends on weights only).
            aggregation="mean")
        self.built = True

    def _power_iteration(self, w, training):
        u = self.u.value
        for _ in range(self.power_iterations):
            v = _l2_normalize(ops.matmul(u, ops.transpose(w)))
            u = _l2_normalize(ops.matmul(v, w))
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        if training:
            self.u.assign(u)
        return u, v

    def sigma(self, training=False):
        """The current estimate of the kernel's largest singular value (scalar)."""
        kernel = self.layer.kernel
        w = ops.reshape(kernel, (-1, kernel.shape[-1]))
        u, v = self._power_iteration(w, training)
        # sigma = v^T W u ([1], eq. 5, with W as [fan_in, units]).
        return ops.sum(ops.matmul(v, w) * u)

    def call(self, inputs, training=False):
        kernel = self.layer.kernel
        normalized = kernel / self.sigma(training)
        trainable = [normalized if var is kernel else var
                     for var in self.layer.trainable_variables]
        outputs, _ = self.layer.stateless_call(
            trainable, self.layer.non_trainable_variables, inputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
