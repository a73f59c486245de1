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


def gradient_penalty(critic, real, fake, epsilon, target=1.0):
    """Two-sided gradient penalty of WGAN-GP ([1], eq. 3, without lambda).

    E[(||grad_x D(x_hat)||_2 - target)^2] with x_hat = eps * real +
    (1 - eps) * fake, the points on straight lines between real and
    generated samples where [1] enforces the 1-Lipschitz constraint.

    Args:
      critic: callable mapping x_hat [N, ...] to scores [N] or [N, 1]; each
        score must depend on its own row only (no batch normalization).
      real, fake: float [N, ...], same shape.
      epsilon: float [N], uniform in [0, 1].
      target: the gradient norm the penalty pulls towards.

    Returns:
      Scalar tensor.

    References:
      [1] Gulrajani et al. Improved Training of Wasserstein GANs. NeurIPS 2017.
    """
    real = tf.convert_to_tensor(real)
    fake = tf.convert_to_tensor(fake)
    eps = tf.reshape(tf.cast(epsilon, real.dtype),
                     tf.concat([tf.shape(real)[:1], tf.ones([tf.rank(real) - 1], tf.int32)], 0))
    x_hat = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        # Rows are independent, so the gradient of the sum holds each row's
        # own gradient.
        total = tf.reduce_sum(critic(x_hat))
    grads = tape.gradient(total, x_hat)
    axes = tf.range(1, tf.rank(grads))
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + 1e-12)
    return tf.reduce_mean(tf.square(norms - target))
