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


def bernoulli_kl(rho, rho_hat, eps=1e-6):
    """KL(Bernoulli(rho) || Bernoulli(rho_hat)), elementwise.

    The sparsity penalty of sparse autoencoders compares a target mean
    activation rho with each unit's observed mean rho_hat; rho_hat is kept
    in [eps, 1 - eps] so a saturated unit gives a large finite penalty.
    """
    rho_hat = tf.clip_by_value(rho_hat, eps, 1.0 - eps)
    return (rho * tf.math.log(rho / rho_hat)
            + (1.0 - rho) * tf.math.log((1.0 - rho) / (1.0 - rho_hat)))
