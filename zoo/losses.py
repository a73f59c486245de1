"""Losses and divergences shared by the families."""

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def kl_divergence(q, p, z=None):
    """KL(q || p) per batch row, closed form when TFP registers one.

    Args:
      q: distribution with batch shape [N].
      p: distribution with batch shape [] or [N] and the same event.
      z: optional samples from q, [N, ...], used for the single-sample Monte
        Carlo estimate log q(z) - log p(z) when no closed form exists
        (e.g. a mixture prior).

    Returns:
      Tensor [N] in nats.
    """
    try:
        return tfd.kl_divergence(q, p)
    except NotImplementedError:
        if z is None:
            raise
        return q.log_prob(z) - p.log_prob(z)


def log_mean_exp(log_w, axis=0):
    """log((1/k) sum_i exp(log_w_i)) along `axis`, computed stably."""
    k = tf.cast(tf.shape(log_w)[axis], log_w.dtype)
    return tf.reduce_logsumexp(log_w, axis=axis) - tf.math.log(k)


def nats_to_bits_per_dim(nats, num_dims):
    """Converts a log-likelihood or NLL in nats per example to bits/dim."""
    return nats / (num_dims * math.log(2.0))
