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


# ------------------------------------------------------------- adversarial
# Pure functions of the discriminator's scores, one value per example ([N]);
# the GAN base reduces them over the batch in one place. Real/fake scores are
# the raw outputs of D on real data and on generated data.

def identity(scores):
    """Scores reported as they are (critics and least-squares discriminators)."""
    return tf.identity(scores)


def gan_discriminator(real_logits, fake_logits):
    """-log D(x) - log(1 - D(G(z))) on logits ([1], eq. 1)."""
    return tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits)


def non_saturating_generator(fake_logits):
    """-log D(G(z)), the generator loss [1] recommends in practice (sec. 3)."""
    return tf.nn.softplus(-fake_logits)


def minimax_generator(fake_logits):
    """log(1 - D(G(z))) = -softplus(logit), the saturating objective of [1], eq. 1."""
    return -tf.nn.softplus(fake_logits)


def least_squares_discriminator(real_scores, fake_scores):
    """1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2: LSGAN with the 0-1 coding ([2], eq. 9)."""
    return 0.5 * tf.square(real_scores - 1.0) + 0.5 * tf.square(fake_scores)


def least_squares_generator(fake_scores):
    """1/2 (D(G(z)) - 1)^2 ([2], eq. 9)."""
    return 0.5 * tf.square(fake_scores - 1.0)


def wasserstein_critic(real_scores, fake_scores):
    """f(G(z)) - f(x): the negated Wasserstein-1 estimate the critic minimizes ([3])."""
    return fake_scores - real_scores


def wasserstein_generator(fake_scores):
    """-f(G(z)) ([3], Algorithm 1); also the hinge generator loss of [5]."""
    return -fake_scores


def hinge_discriminator(real_scores, fake_scores):
    """max(0, 1 - D(x)) + max(0, 1 + D(G(z))) ([5], as used by [6])."""
    return tf.nn.relu(1.0 - real_scores) + tf.nn.relu(1.0 + fake_scores)


def class_cross_entropy(logits, labels):
    """-log softmax(logits)[label] per example (AC-GAN's L_C, [7], eq. 2)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def accuracy(logits, labels):
    """1 where argmax(logits) == label, else 0, per example (float32)."""
    return tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32),
                            tf.cast(labels, tf.int32)), tf.float32)


def mutual_information_terms(category_logits, categories, means, continuous):
    """InfoGAN's L_I parts per example ([8], eq. 5), up to constants.

    Args:
      category_logits: [N, K] logits of Q(c_cat | x).
      categories: [N, K] one-hot categorical codes that made x.
      means: [N, M] means of the fixed-unit-variance Gaussian Q(c_cont | x).
      continuous: [N, M] continuous codes that made x (M may be 0).

    Returns:
      (categorical [N], continuous [N]): cross-entropy and Gaussian NLL.
    """
    categorical = tf.nn.softmax_cross_entropy_with_logits(labels=categories,
                                                          logits=category_logits)
    gaussian = 0.5 * tf.reduce_sum(tf.square(continuous - means), -1)
    return categorical, gaussian


def gradient_penalty(critic, real, fake, epsilon, target=1.0):
    """Two-sided gradient penalty of WGAN-GP ([4], eq. 3, without lambda).

    (||grad_x D(x_hat)||_2 - target)^2 per sample, with x_hat = eps * real +
    (1 - eps) * fake, the points on straight lines between real and
    generated samples where [4] enforces the 1-Lipschitz constraint. The
    norm is over all of a sample's dimensions (H, W, C for images), and
    each sample has its own eps.

    Args:
      critic: callable mapping x_hat [N, ...] to scores [N] or [N, 1]; each
        score must depend on its own row only (no batch normalization).
      real, fake: float [N, ...], same shape.
      epsilon: float [N], uniform in [0, 1].
      target: the gradient norm the penalty pulls towards.

    Returns:
      Tensor [N].
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
    return tf.square(norms - target)


# References of the adversarial losses:
#   [1] Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014.
#   [2] Mao et al. Least Squares Generative Adversarial Networks. ICCV 2017.
#   [3] Arjovsky, Chintala, Bottou. Wasserstein GAN. ICML 2017.
#   [4] Gulrajani et al. Improved Training of Wasserstein GANs. NeurIPS 2017.
#   [5] Lim, Ye. Geometric GAN. arXiv:1705.02894, 2017.
#   [6] Miyato et al. Spectral Normalization for GANs. ICLR 2018.
#   [7] Odena, Olah, Shlens. Conditional Image Synthesis with Auxiliary
#       Classifier GANs. ICML 2017.
#   [8] Chen et al. InfoGAN. NeurIPS 2016.
#   [9] Salimans et al. Improved Techniques for Training GANs. NeurIPS 2016.
#   [10] Hadsell, Chopra, LeCun. Dimensionality Reduction by Learning an
#        Invariant Mapping. CVPR 2006.
#   [11] Schroff, Kalenichenko, Philbin. FaceNet. CVPR 2015.


# ------------------------------------------------------ few labels, metrics
# Labels of -1 mark unlabelled examples: they take no part in a supervised
# term, and their per-example value there is 0.

def k_plus_one_real_logit(class_logits):
    """log Z(x) = logsumexp of the K class logits: the logit of "real" for a
    K+1-class discriminator whose fake logit is fixed at 0 ([9], sec. 5:
    D(x) = Z(x) / (Z(x) + 1) = 1 - softmax_{K+1})."""
    return tf.reduce_logsumexp(class_logits, axis=-1)


def masked_class_cross_entropy(logits, labels):
    """-log softmax(logits)[label] where label >= 0, else 0; per example [N]."""
    labels = tf.cast(labels, tf.int32)
    known = labels >= 0
    cross_entropy = class_cross_entropy(logits, tf.maximum(labels, 0))
    return tf.where(known, cross_entropy, tf.zeros_like(cross_entropy))


def feature_matching(real_features, fake_features):
    """||mean f(x) - mean f(G(z))||^2 over the batch, a scalar ([9], sec. 3.1)."""
    return tf.reduce_sum(tf.square(tf.reduce_mean(real_features, 0)
                                   - tf.reduce_mean(fake_features, 0)))


def pairwise_squared_distances(embeddings):
    """||e_i - e_j||^2 [N, N] (clipped at 0 against round-off)."""
    sq = tf.reduce_sum(tf.square(embeddings), -1)
    d = sq[:, None] - 2.0 * tf.matmul(embeddings, embeddings, transpose_b=True) + sq[None]
    return tf.maximum(d, 0.0)


def pair_masks(labels):
    """(same, different) [N, N] over labelled rows, the diagonal excluded."""
    labels = tf.cast(labels, tf.int32)
    known = labels >= 0
    both = tf.logical_and(known[:, None], known[None, :])
    off_diagonal = tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool))
    equal = tf.equal(labels[:, None], labels[None, :])
    both = tf.logical_and(both, off_diagonal)
    return tf.logical_and(both, equal), tf.logical_and(both, tf.logical_not(equal))


def contrastive(distance, same, margin):
    """Hadsell et al. 2006, eq. 4: 1/2 D^2 for similar pairs, 1/2 max(0, m - D)^2
    for dissimilar ones ([10]); elementwise."""
    similar = 0.5 * tf.square(distance)
    dissimilar = 0.5 * tf.square(tf.nn.relu(margin - distance))
    return tf.where(same, similar, dissimilar)


def contrastive_in_batch(embeddings, labels, margin):
    """Each labelled row's mean contrastive loss over every other labelled
    row of the batch, [N] (0 for unlabelled rows and rows with no partner)."""
    same, different = pair_masks(labels)
    pairs = tf.logical_or(same, different)
    distance = tf.sqrt(pairwise_squared_distances(embeddings) + 1e-12)
    values = tf.where(pairs, contrastive(distance, same, margin), 0.0)
    count = tf.reduce_sum(tf.cast(pairs, values.dtype), 1)
    return tf.reduce_sum(values, 1) / tf.maximum(count, 1.0)


def semi_hard_negatives(distances, labels):
    """For each anchor-positive pair (a, p), the index of its negative ([11], sec. 3.2):
    the nearest negative farther from a than p is (semi-hard), or, when none
    is, the farthest negative. distances [N, N] -> int32 [N, N] (meaningful
    where (a, p) is a positive pair and a has a negative)."""
    _, different = pair_masks(labels)
    d_an = distances[:, None, :]                 # [a, 1, n]
    d_ap = distances[:, :, None]                 # [a, p, 1]
    negative = different[:, None, :]
    semi_hard = tf.logical_and(negative, d_an > d_ap)
    big = tf.reduce_max(distances) + 1.0
    nearest_semi_hard = tf.argmin(tf.where(semi_hard, d_an, big), -1, output_type=tf.int32)
    farthest = tf.argmax(tf.where(different, distances, -1.0), -1, output_type=tf.int32)
    has_semi_hard = tf.reduce_any(semi_hard, -1)
    return tf.where(has_semi_hard, nearest_semi_hard, farthest[:, None])


def triplet_semi_hard(embeddings, labels, margin):
    """FaceNet's triplet loss with in-batch semi-hard negatives ([11], eq. 1):
    max(0, ||a - p||^2 - ||a - n||^2 + margin), averaged over each anchor's
    positives, [N] (0 for rows with no positive or no negative)."""
    same, different = pair_masks(labels)
    distances = pairwise_squared_distances(embeddings)
    negatives = semi_hard_negatives(distances, labels)
    d_an = tf.gather(distances, negatives, batch_dims=1)
    valid = tf.logical_and(same, tf.reduce_any(different, -1, keepdims=True))
    values = tf.where(valid, tf.nn.relu(distances - d_an + margin), 0.0)
    count = tf.reduce_sum(tf.cast(valid, values.dtype), 1)
    return tf.reduce_sum(values, 1) / tf.maximum(count, 1.0)
