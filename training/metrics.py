"""Sample-quality and likelihood metrics as pure NumPy/SciPy/scikit-learn functions.

Everything here works on plain arrays (features, probabilities, flattened
images), so each metric can be tested against a closed form or a brute-force
reference. `training.evaluate` feeds them model samples and extractor features.

References:
  [1] Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter. GANs Trained by a
      Two Time-Scale Update Rule Converge to a Local Nash Equilibrium
      (FID). NeurIPS 2017.
  [2] Dowson, Landau. The Frechet distance between multivariate normal
      distributions. J. Multivariate Analysis 1982.
  [3] Binkowski, Sutherland, Arbel, Gretton. Demystifying MMD GANs (KID).
      ICLR 2018.
  [4] Salimans et al. Improved Techniques for Training GANs (Inception
      Score). NeurIPS 2016.
  [5] Goodfellow et al. Generative Adversarial Nets (Parzen-window
      evaluation). NeurIPS 2014; Breuleux, Bengio, Vincent 2011.
  [6] Theis, van den Oord, Bethge. A note on the evaluation of generative
      models. ICLR 2016.
  [7] Kynkaanniemi, Karras, Laine, Lehtinen, Aila. Improved Precision and
      Recall Metric for Assessing Generative Models. NeurIPS 2019.
"""

import numpy as np
from scipy.special import logsumexp


def _as_2d(name, x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {x.shape}")
    return x


def _psd_sqrt(matrix):
    """Symmetric square root of a symmetric PSD matrix; tiny negative
    eigenvalues from round-off are clipped to 0."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2):
    """Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))   ([2], [1] eq. 6).

    The trace of (S1 S2)^(1/2) is computed by the eigen-decomposition route
    rather than `scipy.linalg.sqrtm(S1 @ S2)`: S1 S2 has the same eigenvalues
    as the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), whose eigenvalues
    `eigh` returns real; round-off negatives are clipped to 0. This never
    produces the imaginary parts or NaNs that `sqrtm` of the non-symmetric
    product can give for singular (fewer samples than dimensions) or
    ill-conditioned covariances.

    Args:
      mu1, mu2: means [D].
      sigma1, sigma2: covariances [D, D] (symmetric PSD).

    Returns:
      float >= 0 (squared distance, as FID is conventionally reported).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu1 {mu1.shape}, sigma1 {sigma1.shape}, "
                         f"mu2 {mu2.shape}, sigma2 {sigma2.shape}")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    return float(max(value, 0.0))


def feature_stats(features):
    """Mean [D] and unbiased covariance [D, D] of features [N, D]."""
    features = _as_2d("features", features)
    if features.shape[0] < 2:
        raise ValueError("need at least 2 feature vectors for a covariance")
    return features.mean(0), np.cov(features, rowvar=False).reshape(
        features.shape[1], features.shape[1])


def frechet_distance(features1, features2):
    """FID-style Frechet distance between the Gaussian fits of two feature sets [N, D]."""
    return frechet_distance_from_stats(*feature_stats(features1), *feature_stats(features2))


def _polynomial_kernel(x, y):
    # k(x, y) = (x . y / d + 1)^3, the kernel of [3] (section 4).
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased estimate of MMD^2 with the cubic polynomial kernel ([3] eq. 2)."""
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("MMD needs at least 2 points per set")
    kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kernel_inception_distance(features1, features2, num_subsets=100, subset_size=1000,
                              seed=0):
    """KID: unbiased MMD^2 averaged over random subsets ([3] section 4).

    Args:
      features1, features2: [N1, D] and [N2, D].
      num_subsets: number of subset pairs drawn.
      subset_size: points per subset (capped at the smaller set size).
      seed: seeds the subset draws.

    Returns:
      (mean, std) over subsets; mean is unbiased, so it can be slightly
      negative when the two distributions are equal.
    """
    x, y = _as_2d("features1", features1), _as_2d("features2", features2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dims differ: {x.shape[1]} vs {y.shape[1]}")
    m = min(subset_size, x.shape[0], y.shape[0])
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(x[rng.choice(x.shape[0], m, replace=False)],
                            y[rng.choice(y.shape[0], m, replace=False)])
              for _ in range(num_subsets)]
    return float(np.mean(values)), float(np.std(values))


def inception_score(probabilities, splits=10):
    """exp(E_x KL(p(y|x) || p(y))) per split ([4] section 4); returns (mean, std).

    Args:
      probabilities: class probabilities [N, K] (rows sum to 1).
      splits: positive int; the data is cut into this many consecutive
        parts (rows i*N//splits to (i+1)*N//splits, the boundaries of [4]'s
        code), each scored with its own marginal p(y). Capped at N.
    """
    p = _as_2d("probabilities", probabilities)
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise ValueError(f"splits must be a positive int, got {splits!r}")
    if np.min(p) < 0:
        raise ValueError(f"probabilities have negative entries (min {np.min(p):.3g}); "
                         "pass softmax outputs, not logits")
    row_sums = p.sum(1)
    if not np.allclose(row_sums, 1.0, atol=1e-3):
        worst = row_sums[np.argmax(np.abs(row_sums - 1))]
        raise ValueError(f"probability rows must sum to 1 (one sums to {worst:.4g}); "
                         "pass softmax outputs")
    n = p.shape[0]
    splits = min(int(splits), n)
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        marginal = part.mean(0, keepdims=True)
        kl = np.sum(part * (np.log(np.clip(part, 1e-12, None))
                            - np.log(np.clip(marginal, 1e-12, None))), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(a, b):
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0.0)


def _parzen_scores(data, centers, sigmas, batch_size):
    """Per-row Parzen log-densities [len(sigmas), N]; each distance block is
    computed once and scored for every bandwidth."""
    data, centers = _as_2d("data", data), _as_2d("centers", centers)
    sigmas = np.asarray(sigmas, np.float64).ravel()
    if sigmas.size == 0 or not np.all(sigmas > 0):
        raise ValueError(f"bandwidths must be > 0, got {sigmas.tolist()}")
    if data.shape[1] != centers.shape[1]:
        raise ValueError(f"dims differ: {data.shape[1]} vs {centers.shape[1]}")
    m, d = centers.shape
    const = -np.log(m) - 0.5 * d * np.log(2 * np.pi * sigmas ** 2)
    out = np.empty((sigmas.size, data.shape[0]))
    for start in range(0, data.shape[0], batch_size):
        block = _squared_distances(data[start:start + batch_size], centers)
        for j, sigma in enumerate(sigmas):
            out[j, start:start + batch_size] = logsumexp(
                -block / (2 * sigma ** 2), axis=1) + const[j]
    return out


def parzen_log_likelihood(data, centers, sigma, batch_size=256):
    """Log-density of each row of `data` under an isotropic Gaussian Parzen
    window on `centers` ([5]):

      log p(x) = logsumexp_i(-|x - c_i|^2 / (2 sigma^2)) - log M - D/2 log(2 pi sigma^2).

    Args:
      data: [N, D] points to score (flattened images).
      centers: [M, D] kernel centres (generated samples).
      sigma: kernel bandwidth (> 0).
      batch_size: rows of `data` per distance block (bounds memory to
        batch_size * M floats).

    Returns:
      float64 [N] in nats.
    """
    return _parzen_scores(data, centers, [sigma], batch_size)[0]


def select_parzen_bandwidth(validation, centers, sigmas=None, batch_size=256):
    """Grid search of the Parzen bandwidth on a validation set ([5]).

    Args:
      validation: [N, D] held-out points; centers: [M, D] samples.
      sigmas: candidate bandwidths (default 13 log-spaced in [0.01, 1],
        suited to pixels in [0, 1]).

    Returns:
      (best sigma, {sigma: mean validation log-likelihood}).
    """
    if sigmas is None:
        sigmas = np.logspace(-2, 0, 13)
    means = _parzen_scores(validation, centers, sigmas, batch_size).mean(1)
    scores = {float(s): float(v) for s, v in zip(np.ravel(sigmas), means)}
    return max(scores, key=scores.get), scores


def nearest_neighbors(queries, reference, k=1, batch_size=512, exclude_self=False):
    """Euclidean distances and indices of the k nearest rows of `reference`.

    Args:
      queries: [N, D]; reference: [M, D].
      k: neighbours per query.
      exclude_self: `queries` is `reference`; skip each point's own row.

    Returns:
      (distances [N, k] ascending, indices [N, k]).
    """
    queries, reference = _as_2d("queries", queries), _as_2d("reference", reference)
    if queries.shape[1] != reference.shape[1]:
        raise ValueError(f"dims differ: {queries.shape[1]} vs {reference.shape[1]}")
    extra = 1 if exclude_self else 0
    if k + extra > reference.shape[0]:
        raise ValueError(f"k={k} needs more than {reference.shape[0]} reference points")
    ref_sq = (reference * reference).sum(1)
    dists, idx = [], []
    for start in range(0, queries.shape[0], batch_size):
        q = queries[start:start + batch_size]
        block = np.maximum((q * q).sum(1)[:, None] + ref_sq[None, :] - 2 * q @ reference.T, 0)
        if exclude_self:
            rows = np.arange(q.shape[0])
            block[rows, start + rows] = np.inf
        part = np.argpartition(block, k - 1, axis=1)[:, :k]
        part_d = np.take_along_axis(block, part, 1)
        order = np.argsort(part_d, axis=1)
        idx.append(np.take_along_axis(part, order, 1))
        dists.append(np.sqrt(np.take_along_axis(part_d, order, 1)))
    return np.concatenate(dists), np.concatenate(idx)


def _coverage(points, centers, radii, batch_size=512):
    """Fraction of `points` inside at least one ball (centers[j], radii[j])."""
    inside = 0
    c_sq = (centers * centers).sum(1)
    for start in range(0, points.shape[0], batch_size):
        p = points[start:start + batch_size]
        d = np.sqrt(np.maximum((p * p).sum(1)[:, None] + c_sq[None, :] - 2 * p @ centers.T, 0))
        inside += int(np.any(d <= radii[None, :], axis=1).sum())
    return inside / points.shape[0]


def precision_recall(real_features, fake_features, k=3, batch_size=512):
    """Improved precision and recall of [7] (k-NN manifold estimates).

    The real manifold is the union of balls around each real feature with
    radius its distance to its k-th nearest real neighbour; precision is the
    fraction of generated features inside it. Recall swaps the roles.

    Radii shrink as a set grows, so compare sets of equal size (N = M), as
    [7] does; `training.evaluate` truncates the larger one.

    Args:
      real_features: [N, D]; fake_features: [M, D].
      k: neighbourhood size ([7] uses 3).

    Returns:
      (precision, recall), each in [0, 1].
    """
    real, fake = _as_2d("real_features", real_features), _as_2d("fake_features", fake_features)
    real_radii = nearest_neighbors(real, real, k, batch_size, exclude_self=True)[0][:, -1]
    fake_radii = nearest_neighbors(fake, fake, k, batch_size, exclude_self=True)[0][:, -1]
    return (_coverage(fake, real, real_radii, batch_size),
            _coverage(real, fake, fake_radii, batch_size))


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels,
                          max_iter=1000, seed=0):
    """Test accuracy of a logistic-regression probe trained on frozen features.

    Features are standardized with the train statistics first, so the
    probe's regularization means the same for every feature scale.

    Args:
      train_features: [N, D]; train_labels: int [N].
      test_features: [M, D]; test_labels: int [M].

    Returns:
      float accuracy in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    train_x, test_x = _as_2d("train_features", train_features), _as_2d("test_features", test_features)
    train_y, test_y = np.asarray(train_labels).ravel(), np.asarray(test_labels).ravel()
    if train_y.shape[0] != train_x.shape[0] or test_y.shape[0] != test_x.shape[0]:
        raise ValueError("features and labels differ in length")
    if len(np.unique(train_y)) < 2:
        raise ValueError("the linear probe needs at least two classes in the train labels")
    probe = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=max_iter, random_state=seed))
    # One BLAS/OpenMP thread: on a busy 2-core machine the default pools
    # made this fit 20x slower (6 s instead of 0.3 s for 8000 x 32 codes).
    with threadpool_limits(1):
        probe.fit(train_x, train_y)
        return float(np.mean(probe.predict(test_x) == test_y))


def knn_accuracy(train_features, train_labels, test_features, test_labels, k=5):
    """Test accuracy of a k-nearest-neighbour vote (Euclidean) among the
    train features; ties go to the smaller label.

    Args:
      train_features: [N, D]; train_labels: int [N] (>= 0).
      test_features: [M, D]; test_labels: int [M].

    Returns:
      float accuracy in [0, 1].
    """
    train_y, test_y = np.asarray(train_labels).ravel(), np.asarray(test_labels).ravel()
    _, idx = nearest_neighbors(test_features, train_features, k=k)
    votes = train_y[idx]
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    counts = np.stack([np.sum(votes == c, 1) for c in range(num_classes)], 1)
    return float(np.mean(np.argmax(counts, 1) == test_y))


def recall_at_k(features, labels, k=1):
    """Recall@k of retrieval within one set (Sohn 2016; Oh Song et al. 2016):
    the fraction of points whose k nearest other points include one of the
    same label.

    Args:
      features: [N, D]; labels: int [N].

    Returns:
      float in [0, 1].
    """
    labels = np.asarray(labels).ravel()
    _, idx = nearest_neighbors(features, features, k=k, exclude_self=True)
    return float(np.mean(np.any(labels[idx] == labels[:, None], 1)))
