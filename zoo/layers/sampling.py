"""Explicit, batch-invariant randomness.

Sampling signatures take one seed row per output row (int32 [N, 2]) and use
stateless RNG, so row i depends only on seed row i: TF Serving may split or
merge batches along dimension 0 and the same seed still gives the same
image. `model.sample(n, seed=s)` uses seed rows [s, 0], ..., [s, n - 1], so
its i-th image equals a served request with seed [[s, i]].
"""

import numpy as np
import tensorflow as tf

from zoo.errors import InputError

_INT32_MAX = np.iinfo(np.int32).max


def per_row_seeds(num_samples, seed=None):
    """Seed rows [[seed, 0], ..., [seed, num_samples - 1]] as int32 [N, 2].

    Args:
      num_samples: positive Python int N.
      seed: Python int in [0, 2**31 - 1], or None for a fresh random seed.

    Returns:
      int32 Tensor of shape [N, 2].
    """
    if isinstance(num_samples, bool) or not isinstance(
            num_samples, (int, np.integer)) or num_samples < 1:
        raise InputError(
            f"num_samples must be a positive integer, got {num_samples!r}")
    if seed is None:
        seed = int(np.random.default_rng().integers(0, _INT32_MAX))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed <= _INT32_MAX:
        raise InputError(
            f"seed must be an integer in [0, {_INT32_MAX}], got {seed!r}")
    rows = np.stack([np.full(num_samples, seed), np.arange(num_samples)], 1)
    return tf.constant(rows, tf.int32)


def sample_per_row(distribution, seeds):
    """One draw from `distribution` per seed row.

    Args:
      distribution: a `tfp.distributions.Distribution` with batch shape [].
      seeds: int32 [N, 2].

    Returns:
      Tensor [N, *event_shape], row i drawn with seed row i alone.
    """
    return tf.map_fn(lambda row: distribution.sample(seed=row), seeds,
                     fn_output_signature=distribution.dtype)


# Traced: an eager map_fn costs about 1 ms per row.
@tf.function(reduce_retracing=True)
def normal_per_row(seeds, dim):
    """One N(0, I) vector per seed row: float32 [N, dim], row i from seed row i.

    Args:
      seeds: int32 [N, 2].
      dim: size of each vector.
    """
    return tf.map_fn(lambda row: tf.random.stateless_normal([dim], seed=row), seeds,
                     fn_output_signature=tf.float32)


def tfp_seed(seed_generator):
    """The next seed of a Keras `SeedGenerator` in the int32 form TFP wants.

    Keras keeps its seed state as int64; TFP's stateless samplers reject
    anything but int32 [2].
    """
    return tf.cast(seed_generator.next(), tf.int32)


def replica_rows(draw, rows, seed):
    """This replica's `rows` rows of a draw made for the whole global batch.

    `draw(n, seed)` must be a stateless draw of n rows. Every replica makes
    the draw for all of the global batch (rows times the number of replicas)
    from the same seed and keeps its own slice, which is the slice of the
    batch `tf.distribute` handed it. Replicas so draw different noise from
    one seed, and each row's noise depends on the seed and the row's place
    in the global batch alone: the same on any number of replicas.

    Args:
      draw: callable (n, seed) -> Tensor [n, ...].
      rows: this replica's batch size (int or scalar tensor).
      seed: int32 [2] stateless seed, the same on every replica.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas == 1:
        return draw(rows, seed)
    start = tf.cast(context.replica_id_in_sync_group, tf.int32) * rows
    return draw(rows * replicas, seed)[start:start + rows]
