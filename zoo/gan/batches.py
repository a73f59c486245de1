"""Fresh real minibatches for each discriminator update (Algorithm 1 of [1]).

`grouped` turns a stream of fit batches into one of steps that each hold k
batches, interleaved: row j * k + i of a step comes from batch i. `split`
undoes it inside the step. The interleaving keeps the k minibatches whole
under `tf.distribute`, which hands each replica a contiguous slice of the
step's rows: a slice of k * B / R rows holds B / R rows of each minibatch.

References:
  [1] Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014.
"""

import numpy as np
import tensorflow as tf

from zoo.errors import ConfigError


def split(real, labels, k):
    """[(real_i, labels_i)] for i < k from one step's interleaved batch."""

    def part(x, i):
        x = tf.reshape(x, tf.concat([[-1, k], tf.shape(x)[1:]], 0))
        return x[:, i]

    return [(part(real, i), None if labels is None else part(labels, i)) for i in range(k)]


def grouped(x, y, batch_size, shuffle, k, name):
    """A `tf.data.Dataset` whose elements are k of `x`'s batches, interleaved.

    Args:
      x: a dataset of equal-size batches (`drop_remainder=True`), or arrays
        of images (with `y` labels) batched by `batch_size` (default 32).
      shuffle: whether arrays are shuffled each epoch (as `fit` would).
      k: batches per step.
      name: the model's name, for messages.

    The cardinality stays known (no `unbatch`/`rebatch`/`filter`): Keras 3
    runs the data-independent side effects of one extra step (optimizer
    iterations, seed generators) at the end of a stream of unknown length.
    """
    if isinstance(x, (np.ndarray, tf.Tensor)):
        x = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
        if shuffle:
            x = x.shuffle(len(x), reshuffle_each_iteration=True)
        x = x.batch(batch_size or 32, drop_remainder=True)
    elif not isinstance(x, tf.data.Dataset):
        raise ConfigError(
            f"{name} takes {k} fresh real minibatches per step, so fit needs a "
            f"tf.data.Dataset or arrays (got {type(x).__name__}); "
            "compile(real_batches='reuse') trains on other inputs with one minibatch "
            "for all discriminator updates")
    if any(spec.shape[0] is None for spec in tf.nest.flatten(x.element_spec)):
        raise ConfigError(
            f"{name} takes {k} fresh real minibatches of equal size per step: batch "
            "its dataset with drop_remainder=True (or compile(real_batches='reuse'))")
    num_batches = int(x.cardinality())
    if 0 <= num_batches < k:
        raise ConfigError(
            f"{name}'s dataset has {num_batches} batch(es), fewer than the {k} fresh "
            "real minibatches one step takes: use a smaller batch size or more data")

    def interleave(batch):
        flat = tf.reshape(tf.experimental.numpy.swapaxes(batch, 0, 1),
                          tf.concat([[-1], tf.shape(batch)[2:]], 0))
        return tf.ensure_shape(flat, [k * batch.shape[1]] + batch.shape[2:])

    def step(*parts):
        parts = tuple(map(interleave, parts))
        return parts if len(parts) > 1 else parts[0]

    return x.batch(k, drop_remainder=True).map(step)
