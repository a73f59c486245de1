"""training.metrics against closed forms and brute-force references."""

import numpy as np
import pytest
import scipy.linalg
from scipy.special import logsumexp

from training import metrics as M


def _random_cov(rng, d, scale=1.0):
    a = rng.normal(size=(d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


def test_frechet_from_stats_matches_closed_form_for_commuting_gaussians():
    rng = np.random.default_rng(0)
    d = 6
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    a, b = rng.uniform(0.2, 3, d), rng.uniform(0.2, 3, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    # Same eigenvectors: d^2 = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert M.frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # Scalar case: (m1 - m2)^2 + (s1 - s2)^2 in standard deviations.
    assert M.frechet_distance_from_stats([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(5.0)


def test_frechet_from_stats_matches_scipy_sqrtm_for_general_covariances():
    rng = np.random.default_rng(1)
    d = 8
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d, 2.0)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert M.frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)


def test_frechet_distance_of_samples_approaches_the_gaussian_value():
    rng = np.random.default_rng(2)
    d, n = 3, 200_000
    mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.25])
    s1, s2 = np.diag([1.0, 2.0, 0.5]), np.diag([0.5, 2.0, 2.0])
    x = rng.multivariate_normal(mu1, s1, n)
    y = rng.multivariate_normal(mu2, s2, n)
    expected = M.frechet_distance_from_stats(mu1, s1, mu2, s2)
    assert expected == pytest.approx(1.3125 + (1 - np.sqrt(0.5)) ** 2 + (np.sqrt(0.5) - np.sqrt(2)) ** 2)
    assert M.frechet_distance(x, y) == pytest.approx(expected, abs=0.03)


def test_frechet_distance_is_zero_for_identical_features_and_matches_reference():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16))
    y = rng.normal(size=(300, 16)) + 0.3
    assert M.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert M.frechet_distance(x, y) == pytest.approx(ref, rel=1e-6)
    assert M.frechet_distance(x, y) > 1.0


def test_frechet_distance_is_finite_for_singular_covariances():
    # Fewer samples than dimensions: sqrtm of the product is ill-defined,
    # the eigen route stays real and non-negative.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(10, 50)), rng.normal(size=(12, 50))
    value = M.frechet_distance(x, y)
    assert np.isfinite(value) and value > 0


def test_kid_is_unbiased_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(5)
    draws = [M.mmd2_unbiased(rng.normal(size=(100, 8)), rng.normal(size=(100, 8)))
             for _ in range(300)]
    stderr = np.std(draws) / np.sqrt(len(draws))
    assert abs(np.mean(draws)) < 4 * stderr
    assert min(draws) < 0 < max(draws)  # unbiased: it must go negative sometimes
    x, y = rng.normal(size=(500, 8)), rng.normal(size=(500, 8)) + 0.5
    mean, std = M.kernel_inception_distance(x, y, num_subsets=20, subset_size=200)
    assert mean > 3 * std > 0


def test_mmd_matches_brute_force():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / 42
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(a, b) for a in x for b in y) / 35
    assert M.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy)


def test_inception_score_bounds():
    confident = np.eye(10)[np.arange(1000) % 10]
    assert M.inception_score(confident, splits=10)[0] == pytest.approx(10.0, rel=1e-6)
    uniform = np.full((1000, 10), 0.1)
    assert M.inception_score(uniform)[0] == pytest.approx(1.0)
    collapsed = np.eye(10)[np.zeros(1000, int)]
    assert M.inception_score(collapsed)[0] == pytest.approx(1.0, abs=1e-6)


def test_parzen_matches_brute_force_and_bandwidth_selection_prefers_truth():
    rng = np.random.default_rng(7)
    centers, data = rng.normal(size=(50, 4)), rng.normal(size=(9, 4))
    sigma = 0.7
    brute = np.array([
        logsumexp([np.sum(-(x - c) ** 2) / (2 * sigma ** 2) for c in centers]) - np.log(50)
        - 2 * np.log(2 * np.pi * sigma ** 2) for x in data])
    np.testing.assert_allclose(M.parzen_log_likelihood(data, centers, sigma, batch_size=4),
                               brute, rtol=1e-10)
    # Scipy's own Gaussian density gives the same number for one centre.
    from scipy.stats import multivariate_normal
    one = M.parzen_log_likelihood(data, centers[:1], sigma)
    np.testing.assert_allclose(one, multivariate_normal(centers[0], sigma ** 2).logpdf(data))
    best, scores = M.select_parzen_bandwidth(rng.normal(size=(200, 2)), rng.normal(size=(2000, 2)),
                                             sigmas=[0.01, 0.3, 10.0])
    assert best == 0.3 and len(scores) == 3


def test_precision_recall_on_point_clouds():
    rng = np.random.default_rng(8)
    real = rng.normal(size=(500, 2))
    same = rng.normal(size=(500, 2))
    p, r = M.precision_recall(real, same, k=3)
    assert p > 0.9 and r > 0.9
    far = rng.normal(size=(500, 2)) + 50
    assert M.precision_recall(real, far, k=3) == (0.0, 0.0)
    # Mode collapse: fakes cover only the half x > 0 -> high precision, ~half recall.
    half = same[same[:, 0] > 0]
    p, r = M.precision_recall(real, half, k=3)
    assert p > 0.9 and 0.35 < r < 0.65


def test_nearest_neighbors_match_brute_force():
    rng = np.random.default_rng(9)
    q, ref = rng.normal(size=(13, 5)), rng.normal(size=(40, 5))
    d, i = M.nearest_neighbors(q, ref, k=3, batch_size=4)
    full = np.linalg.norm(q[:, None] - ref[None], axis=-1)
    np.testing.assert_array_equal(i, np.argsort(full, 1)[:, :3])
    np.testing.assert_allclose(d, np.sort(full, 1)[:, :3], rtol=1e-6)
    d_self, i_self = M.nearest_neighbors(ref, ref, k=1, exclude_self=True)
    assert not np.any(i_self[:, 0] == np.arange(40))


def test_linear_probe_accuracy_separates_informative_from_noise_features():
    rng = np.random.default_rng(10)
    y = rng.integers(0, 3, 600)
    informative = np.eye(3)[y] * 3 + rng.normal(size=(600, 3))
    noise = rng.normal(size=(600, 3))
    good = M.linear_probe_accuracy(informative[:400], y[:400], informative[400:], y[400:])
    bad = M.linear_probe_accuracy(noise[:400], y[:400], noise[400:], y[400:])
    assert good > 0.9 and bad < 0.5


# ---------------------------------------------------------------- FID on Gaussians


def test_frechet_distance_of_large_samples_matches_the_diagonal_closed_form():
    rng = np.random.default_rng(11)
    n = 100_000
    mu1, mu2 = np.array([0.0, 1.0, -2.0, 0.5]), np.array([0.5, 1.0, -1.0, 0.0])
    sd1, sd2 = np.array([1.0, 2.0, 0.5, 1.5]), np.array([2.0, 1.0, 0.5, 0.5])
    x = mu1 + sd1 * rng.normal(size=(n, 4))
    y = mu2 + sd2 * rng.normal(size=(n, 4))
    # Frechet distance of diagonal Gaussians: |mu1 - mu2|^2 + sum (sd1 - sd2)^2 = 1.5 + 3.
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((sd1 - sd2) ** 2)
    assert expected == pytest.approx(4.5)
    assert M.frechet_distance(x, y) == pytest.approx(expected, abs=0.05)


def test_frechet_distance_of_large_samples_matches_the_closed_form_for_rotated_gaussians():
    rng = np.random.default_rng(12)
    n, d = 100_000, 5
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    var1, var2 = np.array([0.25, 1.0, 2.0, 4.0, 1.0]), np.array([1.0, 1.0, 0.5, 1.0, 9.0])
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    # Same eigenvectors q, so (S1 S2)^(1/2) = q diag(sd1 sd2) q^T.
    x = mu1 + (rng.normal(size=(n, d)) * np.sqrt(var1)) @ q.T
    y = mu2 + (rng.normal(size=(n, d)) * np.sqrt(var2)) @ q.T
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert M.frechet_distance(x, y) == pytest.approx(expected, abs=0.1)
    assert M.frechet_distance(x, x + 3.0) == pytest.approx(9.0 * d, rel=1e-6)


# ---------------------------------------------------------------- KID on Gaussians


def _cubic_kernel_mean(mu_a, cov_a, mu_b, cov_b):
    """E (X.Y / d + 1)^3 for independent X ~ N(mu_a, cov_a), Y ~ N(mu_b, cov_b).

    With s = X.Y: E s = mu_a.mu_b, E s^2 = tr(M_a M_b) (M = cov + mu mu^T), and
    E s^3 = a^3 + 3a (mu_a^T cov_b mu_a + mu_b^T cov_a mu_b + tr(cov_a cov_b))
    + 6 mu_a^T cov_b cov_a mu_b with a = mu_a.mu_b (condition on Y, s is
    Gaussian; then take Gaussian moments of Y).
    """
    d = len(mu_a)
    a = mu_a @ mu_b
    second = np.trace((cov_a + np.outer(mu_a, mu_a)) @ (cov_b + np.outer(mu_b, mu_b)))
    third = (a ** 3 + 3 * a * (mu_a @ cov_b @ mu_a + mu_b @ cov_a @ mu_b + np.trace(cov_a @ cov_b))
             + 6 * mu_a @ cov_b @ cov_a @ mu_b)
    return 1 + 3 * a / d + 3 * second / d ** 2 + third / d ** 3


def _exact_mmd2(mu1, cov1, mu2, cov2):
    return (_cubic_kernel_mean(mu1, cov1, mu1, cov1) + _cubic_kernel_mean(mu2, cov2, mu2, cov2)
            - 2 * _cubic_kernel_mean(mu1, cov1, mu2, cov2))


def test_exact_cubic_mmd_of_centred_gaussians_is_a_frobenius_norm():
    # Cross-check of the moment formula: for zero means only E s^2 survives,
    # so MMD^2 = 3 |cov1 - cov2|_F^2 / d^2.
    rng = np.random.default_rng(13)
    d = 4
    cov1, cov2 = _random_cov(rng, d), _random_cov(rng, d, 1.5)
    zero = np.zeros(d)
    expected = 3 * np.sum((cov1 - cov2) ** 2) / d ** 2
    assert _exact_mmd2(zero, cov1, zero, cov2) == pytest.approx(expected, rel=1e-12)


def test_mmd2_unbiased_averages_to_the_exact_value_on_gaussians():
    rng = np.random.default_rng(14)
    d, m, draws = 4, 40, 400
    mu1, mu2 = np.zeros(d), np.array([0.5, -0.5, 0.25, 0.0])
    cov1, cov2 = np.eye(d), np.diag([1.5, 0.5, 1.0, 1.0])
    exact = _exact_mmd2(mu1, cov1, mu2, cov2)
    values = [M.mmd2_unbiased(rng.multivariate_normal(mu1, cov1, m),
                              rng.multivariate_normal(mu2, cov2, m)) for _ in range(draws)]
    stderr = np.std(values) / np.sqrt(draws)
    # A biased (V-statistic) estimate sits ~0.55 above, about 20 stderr.
    assert abs(np.mean(values) - exact) < 4 * stderr
    assert stderr < 0.1 * exact


def test_kid_of_large_sets_is_close_to_the_exact_mmd():
    rng = np.random.default_rng(15)
    d, n = 6, 2000
    mu2 = np.full(d, 0.3)
    cov2 = np.diag([2.0, 1.0, 1.0, 0.5, 1.0, 1.0])
    x = rng.normal(size=(n, d))
    y = rng.multivariate_normal(mu2, cov2, n)
    exact = _exact_mmd2(np.zeros(d), np.eye(d), mu2, cov2)
    mean, std = M.kernel_inception_distance(x, y, num_subsets=20, subset_size=500, seed=1)
    assert mean == pytest.approx(exact, rel=0.1)
    assert 0 < std < 0.2 * exact


# ---------------------------------------------------------------- Inception Score


def _reference_inception_score(probabilities, splits):
    """Salimans et al.'s improved-gan code, with loops instead of broadcasting."""
    n = len(probabilities)
    scores = []
    for i in range(splits):
        part = probabilities[i * n // splits:(i + 1) * n // splits]
        marginal = part.mean(0)
        kl = [np.sum(row * np.log(row / marginal)) for row in part]
        scores.append(np.exp(np.mean(kl)))
    return np.mean(scores), np.std(scores)


@pytest.mark.parametrize("splits", [1, 5])
def test_inception_score_of_one_hot_conditionals_with_uniform_marginal_is_the_class_count(splits):
    probs = np.eye(8)[np.arange(800) % 8]  # every split holds 100 of each class
    mean, std = M.inception_score(probs, splits=splits)
    assert mean == pytest.approx(8.0, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_split_count_changes_the_marginal_predictably():
    # Sorted by class: one split sees both classes, two or four splits see one
    # class each, so their marginal equals the conditional and IS = 1.
    sorted_probs = np.eye(2)[np.repeat([0, 1], 500)]
    assert M.inception_score(sorted_probs, splits=1)[0] == pytest.approx(2.0)
    assert M.inception_score(sorted_probs, splits=2) == pytest.approx((1.0, 0.0), abs=1e-9)
    assert M.inception_score(sorted_probs, splits=4)[0] == pytest.approx(1.0, abs=1e-9)
    # Smoothed one-hots under a uniform marginal: IS = exp(log K - H(row)).
    k, eps = 5, 0.1
    row = np.full(k, eps / k) + (1 - eps) * np.eye(k)[0]
    smoothed = np.stack([np.roll(row, i % k) for i in range(500)])
    closed = np.exp(np.log(k) + np.sum(row * np.log(row)))
    for splits in (1, 5, 10):
        assert M.inception_score(smoothed, splits=splits)[0] == pytest.approx(closed, rel=1e-9)


@pytest.mark.parametrize("splits", [1, 3, 7, 10])
def test_inception_score_matches_the_reference_implementation(splits):
    # 103 rows: no split count here divides it, so the part boundaries matter.
    probs = np.random.default_rng(16).dirichlet(np.full(6, 0.3), size=103)
    mean, std = M.inception_score(probs, splits=splits)
    ref_mean, ref_std = _reference_inception_score(probs, splits)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("bad, pattern", [
    (np.full((10, 4), 2.0), "sum to 1"),
    (np.log(np.full((10, 4), 0.25)), "negative"),
])
def test_inception_score_rejects_values_that_are_not_probabilities(bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        M.inception_score(bad)


@pytest.mark.parametrize("splits", [0, -2])
def test_inception_score_rejects_a_non_positive_split_count(splits):
    with pytest.raises(ValueError, match="splits"):
        M.inception_score(np.full((10, 4), 0.25), splits=splits)


# ---------------------------------------------------------------- Parzen closed forms


def test_parzen_with_one_centre_is_the_gaussian_log_density():
    rng = np.random.default_rng(17)
    d, sigma = 5, 0.4
    centre, data = rng.normal(size=(1, d)), rng.normal(size=(30, d))
    expected = (-np.sum((data - centre) ** 2, axis=1) / (2 * sigma ** 2)
                - d / 2 * np.log(2 * np.pi * sigma ** 2))
    np.testing.assert_allclose(M.parzen_log_likelihood(data, centre, sigma), expected, rtol=1e-12)


def test_parzen_with_several_centres_is_a_log_mean_of_gaussian_densities():
    rng = np.random.default_rng(18)
    d, sigma = 3, 0.8
    centres, data = rng.normal(size=(7, d)), rng.normal(size=(11, d))
    densities = np.exp(-np.sum((data[:, None] - centres[None]) ** 2, -1) / (2 * sigma ** 2))
    densities /= (2 * np.pi * sigma ** 2) ** (d / 2)
    expected = np.log(densities.mean(axis=1))
    np.testing.assert_allclose(M.parzen_log_likelihood(data, centres, sigma, batch_size=3),
                               expected, rtol=1e-10)


def test_parzen_of_equidistant_far_centres_is_exact_where_exp_underflows():
    # The point is at distance a from all 2d centres (+-a e_j), so the mean
    # of the densities is one Gaussian density; exp(-a^2 / 2 sigma^2) = 0 in
    # float64, a naive log-mean-exp would give -inf.
    d, a, sigma = 3, 100.0, 0.5
    centres = np.concatenate([a * np.eye(d), -a * np.eye(d)])
    value = M.parzen_log_likelihood(np.zeros((1, d)), centres, sigma)[0]
    assert value == pytest.approx(-a ** 2 / (2 * sigma ** 2) - d / 2 * np.log(2 * np.pi * sigma ** 2),
                                  rel=1e-12)


def test_bandwidth_scores_are_the_mean_parzen_log_likelihood_of_each_sigma():
    rng = np.random.default_rng(19)
    validation, centres = rng.normal(size=(50, 2)), rng.normal(size=(40, 2))
    sigmas = [0.1, 0.5, 2.0]
    best, scores = M.select_parzen_bandwidth(validation, centres, sigmas, batch_size=7)
    for s in sigmas:
        assert scores[s] == pytest.approx(M.parzen_log_likelihood(validation, centres, s).mean())
    assert best == max(sigmas, key=scores.get)


# ---------------------------------------------------------------- k-NN, precision, recall


def _brute_distances(a, b):
    return np.sqrt(np.sum((a[:, None] - b[None]) ** 2, axis=-1))


def _brute_precision_recall(real, fake, k):
    """[7] written out: radius = distance to the k-th other point of the same set."""
    def radii(points):
        dist = _brute_distances(points, points)
        np.fill_diagonal(dist, np.inf)
        return np.sort(dist, axis=1)[:, k - 1]

    def coverage(points, centres, centre_radii):
        return np.mean(np.any(_brute_distances(points, centres) <= centre_radii, axis=1))

    return coverage(fake, real, radii(real)), coverage(real, fake, radii(fake))


def test_nearest_neighbors_excluding_self_across_many_batches():
    rng = np.random.default_rng(20)
    points = rng.normal(size=(700, 6))
    dist, idx = M.nearest_neighbors(points, points, k=4, batch_size=64, exclude_self=True)
    full = _brute_distances(points, points)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(idx, np.argsort(full, axis=1)[:, :4])
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :4], rtol=1e-9)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_match_brute_force_knn_over_several_batches(k):
    rng = np.random.default_rng(21 + k)
    real = rng.normal(size=(600, 8))
    fake = 0.6 + 1.1 * rng.normal(size=(560, 8))
    expected = _brute_precision_recall(real, fake, k)
    assert 0.05 < expected[0] < 0.95 and 0.05 < expected[1] < 0.95  # not a trivial case
    assert M.precision_recall(real, fake, k=k, batch_size=100) == pytest.approx(expected, abs=0)
    assert M.precision_recall(real, fake, k=k) == pytest.approx(expected, abs=0)


def test_precision_recall_of_lattice_clouds_with_a_known_answer():
    # Unit lattices, so every 3-NN radius is 1 or sqrt(2). Real: lattices A
    # and B; fake: A jittered by < 0.05 per axis, and a lattice C far away.
    # Fakes near A are inside A's balls, C is in none: precision = 1/2.
    # Reals of A are inside the jittered balls, B in none: recall = 1/2.
    grid = np.stack(np.meshgrid(np.arange(16.0), np.arange(16.0)), -1).reshape(-1, 2)
    jitter = np.random.default_rng(22).uniform(-0.05, 0.05, grid.shape)
    real = np.concatenate([grid, grid + [1000.0, 0.0]])
    fake = np.concatenate([grid + jitter, grid + [0.0, 1000.0]])
    assert len(real) == len(fake) == 512
    assert M.precision_recall(real, fake, k=3, batch_size=96) == (0.5, 0.5)
    # Swapping the sets swaps the two numbers' meaning but not their values here.
    assert M.precision_recall(fake, real, k=3, batch_size=96) == (0.5, 0.5)
