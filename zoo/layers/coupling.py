"""Coupling and autoregressive steps of normalizing flows (see `zoo.layers.bijectors`).

References:
  [1] Dinh, Krueger, Bengio. NICE: Non-linear Independent Components
      Estimation. ICLR workshop 2015.
  [2] Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP.
      ICLR 2017.
  [3] Papamakarios, Pavlakou, Murray. Masked Autoregressive Flow for
      Density Estimation. NeurIPS 2017.
  [4] Kingma et al. Improved Variational Inference with Inverse
      Autoregressive Flow. NeurIPS 2016.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo.layers.bijectors import Step, sum_except_batch
from zoo.layers.masked import MADENetwork

MASKS = ("checkerboard", "channel", "alternate")


def coupling_mask(shape, kind, parity):
    """The 0/1 mask [1, *shape] of the part a coupling keeps ([2], fig. 3).

    Args:
      shape: event shape, (H, W, C) or (D,).
      kind: "checkerboard" (pixels where (row + col + parity) is even),
        "channel" (the first half of the channels, or the second for odd
        parity) or "alternate" (vector entries of index parity mod 2, [1]).
    """
    shape = tuple(shape)
    if kind == "checkerboard":
        h, w, c = shape
        board = (np.add.outer(np.arange(h), np.arange(w)) + parity) % 2 == 0
        mask = np.repeat(board[:, :, None], c, axis=2)
    elif kind == "channel":
        c = shape[-1]
        keep = np.arange(c) < c // 2
        mask = np.broadcast_to(keep if parity % 2 == 0 else ~keep, shape)
    else:
        mask = np.arange(int(np.prod(shape))).reshape(shape) % 2 == parity % 2
    return mask.astype(np.float32)[None]


def conv_conditioner(hidden, out_channels, name):
    """3x3 -> 1x1 -> 3x3 ReLU convolutions; the last starts at zero, so the
    coupling starts as the identity."""
    return keras.Sequential([
        keras.layers.Conv2D(hidden, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(hidden, 1, activation="relu"),
        keras.layers.Conv2D(out_channels, 3, padding="same", kernel_initializer="zeros"),
    ], name=name)


def dense_conditioner(hidden_units, out_units, name):
    """ReLU MLP whose linear output layer starts at zero."""
    layers = [keras.layers.Dense(u, activation="relu") for u in hidden_units]
    layers.append(keras.layers.Dense(out_units, kernel_initializer="zeros"))
    return keras.Sequential(layers, name=name)


class Coupling(Step):
    """z = x_a + (1 - m) * (x exp(s(x_a)) + t(x_a)), x_a = m * x ([2], eq. 9).

    The kept part x_a (mask m) passes unchanged and parameterizes the rest,
    so the Jacobian is triangular: log |det| = sum((1 - m) s). `additive`
    drops the scale (s = 0, volume-preserving, [1] sec. 5.1). The scale is
    s = scale * tanh(raw) with a learned per-channel scale ([2], sec. 4.1),
    which bounds each step's expansion.

    Args:
      mask: float [1, *event_shape] 0/1 (`coupling_mask`).
      conditioner: layer mapping m * x to 2C (affine) or C (additive)
        channels of the event's shape.
      additive: NICE's additive coupling.
    """

    def __init__(self, mask, conditioner, additive=False, **kwargs):
        super().__init__(**kwargs)
        self._mask = np.asarray(mask, np.float32)
        self.conditioner = conditioner
        self.additive = bool(additive)

    def build(self, input_shape):
        self.conditioner.build(input_shape)
        if not self.additive:
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],),
                                         initializer="ones")

    def _shift_and_log_scale(self, kept):
        out = tf.cast(self.conditioner(kept), tf.float32)
        if self.additive:
            return out, tf.zeros_like(out)
        t, raw = tf.split(out, 2, axis=-1)
        return t, self.scale * tf.tanh(raw)

    def call(self, x, training=False):
        m = tf.constant(self._mask)
        t, s = self._shift_and_log_scale(m * x)
        z = m * x + (1.0 - m) * (x * tf.exp(s) + t)
        return z, sum_except_batch((1.0 - m) * s)

    def reverse(self, z):
        m = tf.constant(self._mask)
        t, s = self._shift_and_log_scale(m * z)
        return m * z + (1.0 - m) * (z - t) * tf.exp(-s)


class AutoregressiveAffine(Step):
    """An affine autoregressive step on vectors [N, D] ([3], sec. 3.1).

    direction "maf": z_i = (x_i - mu_i(x_<i)) exp(-alpha_i(x_<i)), one MADE
    pass for the density and D passes to sample ([3], eq. 4-5).
    direction "iaf": x_i = z_i exp(alpha_i(z_<i)) + mu_i(z_<i), one pass to
    sample and D passes for the density ([4], eq. 10).
    Either way log |det dz/dx| = -sum(alpha). alpha is soft-clamped to
    (-clamp, clamp) so no step can blow up.

    Args:
      num_dims: D.
      hidden_units: the MADE's hidden layers.
      reverse_order: condition in the reversed order (stacked steps
        alternate it, [3] sec. 3.1).
      direction: "maf" or "iaf".
    """

    def __init__(self, num_dims, hidden_units, reverse_order=False, direction="maf",
                 clamp=5.0, **kwargs):
        super().__init__(**kwargs)
        self.num_dims, self.direction, self.clamp = int(num_dims), direction, float(clamp)
        order = np.arange(1, self.num_dims + 1)
        order = order[::-1].copy() if reverse_order else order
        # A zero output layer starts the step at the identity, as the couplings.
        self.made = MADENetwork(order, hidden_units, np.tile(np.arange(self.num_dims), 2),
                                output_initializer="zeros", name="made")

    def _params(self, v):
        out = tf.cast(self.made(v), tf.float32)
        mu, raw = out[:, :self.num_dims], out[:, self.num_dims:]
        return mu, self.clamp * tf.tanh(raw / self.clamp)

    def _solve(self, target, step):
        """The fixed point v = step(v, *params(v)), reached after D passes:
        pass k fixes the k-th dimension of the order."""
        def body(i, v):
            return i + 1, step(target, *self._params(v))
        _, v = tf.while_loop(lambda i, _: i < self.num_dims, body,
                             (0, tf.zeros_like(target)))
        return v

    def call(self, x, training=False):
        if self.direction == "maf":
            mu, alpha = self._params(x)
            z = (x - mu) * tf.exp(-alpha)
        else:
            z = self._solve(x, lambda x_, mu, alpha: (x_ - mu) * tf.exp(-alpha))
            _, alpha = self._params(z)
        return z, -tf.reduce_sum(alpha, axis=1)

    def reverse(self, z):
        if self.direction == "iaf":
            mu, alpha = self._params(z)
            return z * tf.exp(alpha) + mu
        return self._solve(z, lambda z_, mu, alpha: z_ * tf.exp(alpha) + mu)
