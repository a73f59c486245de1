"""Fixed-step ODE integration and divergence estimators for continuous flows.

A continuous normalizing flow moves x by dx/dt = f(x, t); its log-density
changes by d log p(x(t)) / dt = -tr(df/dx) ([1], eq. 4). The trace is
exact (D vector-Jacobian products) or Hutchinson's unbiased estimate
eps^T (df/dx) eps with E[eps eps^T] = I ([1], eq. 7; [2]), one product.

Integration is classical RK4 with a fixed number of steps: plain graph
ops, so it runs inside an exported SavedModel (an adaptive solver's data-
dependent step count would not batch in TF Serving).

References:
  [1] Grathwohl, Chen, Bettencourt, Sutskever, Duvenaud. FFJORD: Free-form
      Continuous Dynamics for Scalable Reversible Generative Models. ICLR 2019.
  [2] Hutchinson. A stochastic estimator of the trace of the influence
      matrix for Laplacian smoothing splines. 1989.
"""

import tensorflow as tf


def rk4(func, state, t0, t1, num_steps):
    """Integrates d state / dt = func(t, state) from t0 to t1.

    Args:
      func: (t, state) -> derivative, with `state` a tuple of tensors.
      state: tuple of tensors at t0.
      t0, t1: Python floats (t1 < t0 integrates backwards).
      num_steps: positive int of equal RK4 steps.

    Returns:
      The tuple at t1.
    """
    h = (t1 - t0) / num_steps

    def axpy(a, xs, ys):
        return tuple(x + a * y for x, y in zip(xs, ys))

    for i in range(num_steps):
        t = t0 + i * h
        k1 = func(t, state)
        k2 = func(t + h / 2, axpy(h / 2, state, k1))
        k3 = func(t + h / 2, axpy(h / 2, state, k2))
        k4 = func(t + h, axpy(h, state, k3))
        state = tuple(s + h / 6 * (a + 2 * b + 2 * c + d)
                      for s, a, b, c, d in zip(state, k1, k2, k3, k4))
    return state


def exact_trace(fn, x):
    """(fn(x), tr(d fn / dx)) for fn: [N, D] -> [N, D], row by row."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    jac = tape.batch_jacobian(y, x)
    return y, tf.linalg.trace(jac)


def hutchinson_trace(fn, x, eps):
    """(fn(x), eps^T (d fn / dx) eps) per row, one vector-Jacobian product.

    Args:
      eps: [N, D] probes with E[eps eps^T] = I (Rademacher or Gaussian).
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    vjp = tape.gradient(y, x, output_gradients=eps)
    return y, tf.reduce_sum(vjp * eps, axis=1)


def rademacher(shape, seed):
    """Entries +-1 with equal probability (stateless)."""
    bits = tf.random.stateless_uniform(shape, seed=seed, minval=0, maxval=2, dtype=tf.int32)
    return tf.cast(2 * bits - 1, tf.float32)
