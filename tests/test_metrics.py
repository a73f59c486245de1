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
