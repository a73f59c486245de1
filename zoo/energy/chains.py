"""Per-row randomness and the loop of the family's Markov chains.

A served Gibbs chain runs hundreds of steps on a batch whose rows must not
depend on each other (TF Serving splits and merges batches along dimension
0). Stateless TF samplers take one seed per call, so per-row draws would be
one op per row per step. Here uniforms are a counter-based hash instead:
u(row, step, unit) = mix(seed row, step, unit), vectorized over the batch,
made of core integer ops only (servable), and the same for a row alone or in
any batch. The mixer is MurmurHash3's 32-bit finalizer [1], applied in
rounds that absorb the seed words, the step and the unit index; the top 24
bits give a uniform in [0, 1) on the float32 grid.

References:
  [1] Appleby. MurmurHash3 (public domain), fmix32.
"""

import tensorflow as tf

_C1, _C2, _GOLDEN = 0x85EBCA6B, 0xC2B2AE35, 0x9E3779B9


def _u32(value):
    return tf.constant(value, tf.uint32)


def _fmix(h):
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, _u32(16)))
    h = h * _u32(_C1)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, _u32(13)))
    h = h * _u32(_C2)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, _u32(16)))


def row_keys(seeds, stream=0):
    """One uint32 key per seed row: int32 [N, 2] -> uint32 [N].

    Args:
      seeds: int32 [N, 2] seed rows.
      stream: Python int; different streams of one seed row are independent.
    """
    seeds = tf.bitcast(tf.cast(seeds, tf.int32), tf.uint32)
    h = _fmix(seeds[:, 0] + _u32((stream * _GOLDEN) & 0xFFFFFFFF))
    return _fmix(tf.bitwise.bitwise_xor(h, seeds[:, 1] * _u32(_GOLDEN)) + _u32(_C2))


def row_uniform(keys, step, size):
    """U[0, 1) float32 [N, size]: row i from keys[i] and `step` alone.

    Args:
      keys: uint32 [N] from `row_keys`.
      step: int scalar (Python or tensor), e.g. the chain step.
      size: number of uniforms per row.
    """
    step = tf.cast(tf.cast(step, tf.int32), tf.uint32)
    h = _fmix(tf.bitwise.bitwise_xor(keys, _fmix(step * _u32(_GOLDEN) + _u32(_C1))))
    units = tf.cast(tf.range(size), tf.uint32) * _u32(_C2)
    h = _fmix(tf.bitwise.bitwise_xor(h[:, None], _fmix(units + _u32(_GOLDEN))))
    return tf.cast(tf.bitwise.right_shift(h, _u32(8)), tf.float32) * (1.0 / (1 << 24))


def bernoulli(probs, uniforms):
    """Binary draws: 1 where `uniforms` < `probs` (same shapes)."""
    return tf.cast(uniforms < probs, uniforms.dtype)


def run_chain(step_fn, state, num_steps, snapshot_every=0):
    """Runs `state = step_fn(t, state)` for t = 0 .. num_steps - 1.

    A `tf.while_loop` with one iteration in flight, so a served graph holds
    one copy of the step however long the chain.

    Args:
      step_fn: (t int32 scalar, state Tensor) -> state Tensor, same shape.
      state: the start of the chain.
      num_steps: Python int >= 0.
      snapshot_every: if > 0, also return the state after every
        `snapshot_every` steps, stacked [num_steps // snapshot_every, ...].

    Returns:
      The final state, and the snapshots when asked for.
    """
    count = num_steps // snapshot_every if snapshot_every else 0
    snaps = tf.TensorArray(state.dtype, size=count, element_shape=state.shape)

    def body(t, s, snaps):
        s = step_fn(t, s)
        if snapshot_every:
            snaps = tf.cond(tf.equal((t + 1) % snapshot_every, 0),
                            lambda: snaps.write((t + 1) // snapshot_every - 1, s),
                            lambda: snaps)
        return t + 1, s, snaps

    _, state, snaps = tf.while_loop(lambda t, *_: t < num_steps, body,
                                    (tf.constant(0), state, snaps), parallel_iterations=1)
    return (state, snaps.stack()) if snapshot_every else state
