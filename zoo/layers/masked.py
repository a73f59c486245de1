"""Masked dense networks whose output d sees only inputs before d (MADE).

A MADE ([1]) gives every unit a degree: input i has degree order[i] in
1..D, a hidden unit a degree in [min of the layer below, D - 1], and an
output that parameterizes input i the degree order[i]. A hidden unit
connects to units below of degree <= its own, an output to hidden units
of degree < its own ([1], eq. 12-13), so output i depends only on inputs
earlier in `order`. MADE (`zoo.autoregressive.made`) and MAF
(`zoo.flows.maf`) share these pieces.

References:
  [1] Germain, Gregor, Murray, Larochelle. MADE: Masked Autoencoder for
      Distribution Estimation. ICML 2015.
  [2] Papamakarios, Pavlakou, Murray. Masked Autoregressive Flow for
      Density Estimation. NeurIPS 2017.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo.errors import ConfigError


def hidden_degrees(num_dims, hidden_units, rng=None):
    """Degrees [units] of each hidden layer.

    Args:
      num_dims: D >= 2.
      hidden_units: units per hidden layer.
      rng: None for degrees spread evenly over 1..D-1 (as MAF's
        sequential degrees, [2] sec. 3.1); a `np.random.Generator` for MADE's
        random degrees ([1] sec. 4.2), each >= the lowest degree below.
    """
    if num_dims < 2:
        raise ConfigError(f"a masked autoregressive network needs at least 2 "
                          f"dimensions, got {num_dims}")
    degrees, low = [], 1
    for units in hidden_units:
        if rng is None:
            # Spread over 1..D-1 even with fewer units than dimensions, so
            # every input but the last reaches some hidden unit.
            d = np.arange(units) * (num_dims - 1) // units + 1
        else:
            d = rng.integers(low, num_dims, size=units)
        low = int(d.min())
        degrees.append(d)
    return degrees


def masks(input_degrees, hidden, output_degrees):
    """0/1 masks [in, out] of each layer for the given degrees ([1], eq. 12-13)."""
    layers, below = [], np.asarray(input_degrees)
    for d in hidden:
        layers.append((d[None, :] >= below[:, None]).astype(np.float32))
        below = d
    layers.append((np.asarray(output_degrees)[None, :] > below[:, None]).astype(np.float32))
    return layers


class MaskedDense(keras.layers.Layer):
    """x @ (kernel * mask) + bias, with one of K fixed masks per call.

    Args:
      units: output units.
      layer_masks: float [K, in, units] 0/1 masks (constants, not weights).
      activation: applied to the output.
    """

    def __init__(self, units, layer_masks, activation=None, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self._masks = np.asarray(layer_masks, np.float32)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        fan_in = self._masks.shape[1]
        self.kernel = self.add_weight(name="kernel", shape=(fan_in, self.units),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x, mask_index=0):
        mask = tf.gather(tf.constant(self._masks), mask_index)
        kernel = tf.cast(self.kernel * mask, x.dtype)
        return self.activation(tf.matmul(x, kernel) + tf.cast(self.bias, x.dtype))


class MADENetwork(keras.layers.Layer):
    """A MADE: [N, D] -> [N, D * P] with output j parameterizing input
    `output_dims[j]`, from masked ReLU layers.

    Args:
      order: int [D], the position (1..D) of each input in the
        autoregressive order.
      hidden_units: units per hidden layer.
      output_dims: int [D * P], the input each output belongs to.
      num_masks: K connectivities; mask 0 has evenly spread degrees, the
        others random degrees from `seed` ([1] sec. 4.2).
      seed: int for the random degrees.
      output_initializer: of the output layer's kernel ("zeros" starts a
        flow step at the identity).
    """

    def __init__(self, order, hidden_units, output_dims, num_masks=1, seed=0,
                 output_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        order = np.asarray(order)
        rng = np.random.default_rng(seed)
        per_mask = []
        for k in range(num_masks):
            hidden = hidden_degrees(len(order), hidden_units, None if k == 0 else rng)
            per_mask.append(masks(order, hidden, order[np.asarray(output_dims)]))
        self.num_masks = int(num_masks)
        self.hidden = [MaskedDense(u, [m[i] for m in per_mask], "relu", name=f"hidden{i}")
                       for i, u in enumerate(hidden_units)]
        self.out = MaskedDense(len(output_dims), [m[-1] for m in per_mask],
                               kernel_initializer=output_initializer, name="out")

    def call(self, x, mask_index=0):
        h = x
        for layer in self.hidden:
            h = layer(h, mask_index=mask_index)
        return self.out(h, mask_index=mask_index)
