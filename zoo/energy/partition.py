"""log Z of a restricted Boltzmann machine: exact enumeration and AIS.

The RBM is given by its parameters (W [D, H], visible bias b [D], hidden
bias c [H]) and its visible type. With binary hidden units h summed out, the
unnormalized log marginal of v is

  binary v:    log p*(v) = b.v + sum_j softplus(c_j + v.W_j)
  Gaussian v:  log p*(v) = -|v - b|^2 / 2 + sum_j softplus(c_j + v.W_j)

(Gaussian units in units of their standard deviation; `zoo.energy.rbm`
rescales.) Everything here runs in float64: AIS sums thousands of small
log-ratios.
"""

import math

import tensorflow as tf

from zoo.energy.chains import bernoulli, row_keys, row_uniform, run_chain

#: Hidden units up to which `exact_log_z` enumerates (2**20 configurations).
MAX_ENUMERATED_HIDDEN = 20


def _params(weights, visible_bias, hidden_bias):
    return [tf.cast(tf.convert_to_tensor(p), tf.float64)
            for p in (weights, visible_bias, hidden_bias)]


def hidden_configurations(num_hidden, start=0, count=None):
    """float64 [count, H]: configurations start .. start + count - 1 of H bits."""
    count = (1 << num_hidden) - start if count is None else count
    codes = tf.range(start, start + count, dtype=tf.int64)
    bits = tf.bitwise.right_shift(codes[:, None], tf.range(num_hidden, dtype=tf.int64))
    return tf.cast(tf.bitwise.bitwise_and(bits, 1), tf.float64)


def exact_log_z(weights, visible_bias, hidden_bias, visible="binary", chunk=1 << 16):
    """log Z by summing over every hidden configuration (H <= 20).

    Args:
      weights, visible_bias, hidden_bias: W [D, H], b [D], c [H].
      visible: "binary" or "gaussian" (unit variance).
      chunk: hidden configurations per batch of the sum.

    Returns:
      float64 scalar Tensor.
    """
    w, b, c = _params(weights, visible_bias, hidden_bias)
    num_hidden = int(w.shape[1])
    if num_hidden > MAX_ENUMERATED_HIDDEN:
        raise ValueError(f"exact log Z enumerates 2**H hidden states; H={num_hidden} "
                         f"> {MAX_ENUMERATED_HIDDEN}")
    parts = []
    for start in range(0, 1 << num_hidden, chunk):
        h = hidden_configurations(num_hidden, start, min(chunk, (1 << num_hidden) - start))
        field = b + tf.matmul(h, w, transpose_b=True)  # [n, D]
        if visible == "binary":
            term = tf.reduce_sum(tf.nn.softplus(field), 1)
        else:
            # The Gaussian integral of exp(-|v - b|^2/2 + v.Wh) over v.
            term = 0.5 * tf.reduce_sum(field ** 2, 1) - 0.5 * tf.reduce_sum(b ** 2)
        parts.append(tf.reduce_logsumexp(tf.linalg.matvec(h, c) + term))
    log_z = tf.reduce_logsumexp(tf.stack(parts))
    if visible == "gaussian":
        log_z += 0.5 * int(w.shape[0]) * math.log(2 * math.pi)
    return log_z


def unnormalized_log_marginal(v, weights, visible_bias, hidden_bias, visible="binary"):
    """log p*(v) [N] for visible states v [N, D] (float64)."""
    w, b, c = _params(weights, visible_bias, hidden_bias)
    v = tf.cast(v, tf.float64)
    hidden = tf.reduce_sum(tf.nn.softplus(c + tf.matmul(v, w)), 1)
    if visible == "binary":
        return tf.linalg.matvec(v, b) + hidden
    return -0.5 * tf.reduce_sum((v - b) ** 2, 1) + hidden


def ais_log_z(weights, visible_bias, hidden_bias, visible="binary", num_runs=100,
              num_betas=1000, seed=(0, 0), base_bias=None):
    """Annealed importance sampling estimate of log Z ([1], [2]).

    The chain anneals from a base model A with no hidden interaction,
    p_A(v) ∝ exp(b_A.v) (binary) or N(b, I) (Gaussian), with its H hidden
    units free (so Z_0 = Z_A 2^H), through f_k(v) = p*_A(v)^(1-β_k) p*_B(v)^β_k
    with the hidden units summed out, to the RBM B at β = 1 ([2] eq. 11-15),
    with β evenly spaced in [0, 1] and one Gibbs transition per β.

    Args:
      weights, visible_bias, hidden_bias: W [D, H], b [D], c [H].
      visible: "binary" or "gaussian".
      num_runs: M independent AIS runs.
      num_betas: K intermediate distributions.
      seed: int pair; the same seed gives the same estimate.
      base_bias: b_A [D] for binary units (default: the RBM's b; [2] uses
        the data's marginal log-odds).

    Returns:
      (log Z estimate, its standard error in log space (delta method,
      std(w) / (sqrt(M) mean(w))), log weights [M]), float64.

    References:
      [1] Neal. Annealed Importance Sampling. Statistics and Computing, 2001.
      [2] Salakhutdinov, Murray. On the Quantitative Analysis of Deep Belief
          Networks. ICML 2008.
    """
    w, b, c = _params(weights, visible_bias, hidden_bias)
    num_vis, num_hidden = int(w.shape[0]), int(w.shape[1])
    b_a = b if base_bias is None else tf.cast(base_bias, tf.float64)
    keys = row_keys(tf.stack([tf.fill([num_runs], int(seed[0])),
                              tf.range(num_runs) + int(seed[1])], 1), stream=7)
    betas = tf.cast(tf.linspace(0.0, 1.0, num_betas + 1), tf.float64)

    def log_f(v, beta):
        hidden = tf.reduce_sum(tf.nn.softplus(beta * (c + tf.matmul(v, w))), 1)
        if visible == "binary":
            return tf.linalg.matvec(v, (1 - beta) * b_a + beta * b) + hidden
        return -0.5 * tf.reduce_sum((v - b) ** 2, 1) + hidden

    def normal(step, size):
        # Box-Muller on two hashed uniforms, per row.
        u1 = tf.cast(row_uniform(keys, 2 * step, size), tf.float64)
        u2 = tf.cast(row_uniform(keys, 2 * step + 1, size), tf.float64)
        return tf.sqrt(-2.0 * tf.math.log1p(-u1)) * tf.cos(2 * math.pi * u2)

    def transition(step, v, beta):
        h_probs = tf.sigmoid(beta * (c + tf.matmul(v, w)))
        h = bernoulli(h_probs, tf.cast(row_uniform(keys, 3 * step + 1, num_hidden),
                                       tf.float64))
        field = tf.matmul(h, w, transpose_b=True)
        if visible == "binary":
            probs = tf.sigmoid((1 - beta) * b_a + beta * (b + field))
            return bernoulli(probs, tf.cast(row_uniform(keys, 3 * step + 2, num_vis),
                                            tf.float64))
        return b + beta * field + normal(1_000_003 + step, num_vis)

    if visible == "binary":
        v0 = bernoulli(tf.sigmoid(b_a) + tf.zeros([num_runs, 1], tf.float64),
                       tf.cast(row_uniform(keys, 0, num_vis), tf.float64))
        log_z0 = tf.reduce_sum(tf.nn.softplus(b_a))
    else:
        v0 = b + normal(0, num_vis)
        log_z0 = tf.constant(0.5 * num_vis * math.log(2 * math.pi), tf.float64)
    log_z0 += num_hidden * math.log(2.0)

    def step(k, state):
        v, log_w = state[:, :num_vis], state[:, num_vis]
        beta_prev, beta = betas[k], betas[k + 1]
        log_w += log_f(v, beta) - log_f(v, beta_prev)
        v = transition(k + 1, v, beta)
        return tf.concat([v, log_w[:, None]], 1)

    state = tf.concat([v0, tf.zeros([num_runs, 1], tf.float64)], 1)
    log_w = run_chain(step, state, num_betas)[:, num_vis]
    log_mean_w = tf.reduce_logsumexp(log_w) - math.log(num_runs)
    scaled = tf.exp(log_w - tf.reduce_max(log_w))
    stderr = tf.math.reduce_std(scaled) / (math.sqrt(num_runs) * tf.reduce_mean(scaled))
    return log_z0 + log_mean_w, stderr, log_w
