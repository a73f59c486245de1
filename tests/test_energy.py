"""Markov-chain models (issue #18): RBM maths against enumeration, AIS, CD-k,
Gibbs samples by chi-square, persistent chains, DBN bound, GSN's chain."""

import itertools
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import zoo
from tests import contract
from training import train as train_cli
from zoo.energy import partition
from zoo.energy.chains import row_keys, row_uniform

TINY_CONFIGS = {
    "rbm": {"num_hidden": 8, "sampling_steps": 5, "chain_signatures": (3,), "ais_runs": 4,
            "ais_betas": 20},
    "dbn": {"hidden_layers": (8, 4), "layer_steps": 1, "sampling_steps": 5,
            "chain_signatures": (3,), "ais_runs": 4, "ais_betas": 20},
    "gsn": {"latent_dim": 8, "hidden_units": (16,), "walkback": 2, "sampling_steps": 5,
            "chain_signatures": (3,)},
}


def _tiny_rbm(visible="binary", scale=1.0, seed=0, **kwargs):
    """A 4-visible (2x2 image) x 3-hidden RBM with random parameters."""
    model = zoo.get("rbm", image_shape=(2, 2, 1), num_hidden=3, visible=visible, **kwargs)
    rng = np.random.default_rng(seed)
    model.rbm.w.assign(scale * rng.normal(size=(4, 3)).astype(np.float32))
    model.rbm.b.assign(rng.normal(size=4).astype(np.float32))
    model.rbm.c.assign(rng.normal(size=3).astype(np.float32))
    return model


def _states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)), np.float32)


def _exact_log_p(model, states):
    """log p(v) [N] of binary states by enumeration, float64."""
    return (-np.asarray(model.rbm.free_energy(states), np.float64)
            - float(partition.exact_log_z(*model.rbm.params)))


def _energy(model, v, h):
    w, b, c = (np.asarray(p, np.float64) for p in model.rbm.params)
    if model.visible == "binary":
        return -(v @ b) - (h @ c) - np.einsum("i,ij,j->", v, w, h)
    return 0.5 * np.sum((v - b) ** 2) - (h @ c) - np.einsum("i,ij,j->", v, w, h)


@pytest.mark.parametrize("visible", ["binary", "gaussian"])
def test_free_energy_is_minus_log_sum_over_hidden_states(visible):
    model = _tiny_rbm(visible)
    v = np.random.default_rng(1).uniform(0, 1, (5, 4)).astype(np.float32)
    if visible == "binary":
        v = np.round(v)
    expected = [-np.logaddexp.reduce([-_energy(model, row, h) for h in _states(3)]) for row in v]
    np.testing.assert_allclose(model.rbm.free_energy(v), expected, rtol=1e-5, atol=1e-5)


def test_exact_log_z_enumerates_every_joint_state():
    model = _tiny_rbm()
    brute = np.logaddexp.reduce([-_energy(model, v, h) for v in _states(4) for h in _states(3)])
    np.testing.assert_allclose(float(partition.exact_log_z(*model.rbm.params)), brute, rtol=1e-9)
    # Gaussian units: the integral over v against a fine grid would be slow
    # in 4-D; the 1-D case is checked instead.
    w, b, c = np.array([[0.7, -0.4]]), np.array([0.3]), np.array([0.2, -0.5])
    grid = np.linspace(-12, 12, 200001)
    log_f = (-0.5 * (grid - b[0]) ** 2 + np.logaddexp(0, c[0] + w[0, 0] * grid)
             + np.logaddexp(0, c[1] + w[0, 1] * grid))
    numeric = np.log(np.trapezoid(np.exp(log_f), grid))
    np.testing.assert_allclose(float(partition.exact_log_z(w, b, c, "gaussian")), numeric,
                               rtol=1e-7)


@pytest.mark.parametrize("visible", ["binary", "gaussian"])
def test_ais_lands_within_its_standard_error_of_the_exact_log_z(visible):
    model = _tiny_rbm(visible, scale=2.0)
    exact = float(partition.exact_log_z(*model.rbm.params, visible))
    log_z, stderr, log_w = partition.ais_log_z(*model.rbm.params, visible, num_runs=500,
                                               num_betas=500, seed=(3, 0))
    assert 0 < float(stderr) < 0.05 and log_w.shape == (500,)
    assert abs(float(log_z) - exact) < 3 * float(stderr), (float(log_z), exact, float(stderr))
    # A one-step "annealing" is far off or far less sure of itself.
    rough, rough_err, _ = partition.ais_log_z(*model.rbm.params, visible, 500, 1, (3, 0))
    assert abs(float(rough) - exact) > 3 * float(stderr) or float(rough_err) > 5 * float(stderr)


def test_cd_k_gradient_approaches_the_exact_gradient_as_k_grows():
    model = _tiny_rbm(scale=2.5)
    data = _states(4)[[1, 6, 9, 14, 15]]
    batch = np.repeat(data, 4000, axis=0)
    states = _states(4)
    # Exact d(mean log p(v))/dW = E_data[v h(v)] - E_model[v h(v)].
    p = np.exp(_exact_log_p(model, states))
    h = np.asarray(model.rbm.hidden_probs(states), np.float64)
    h_data = np.asarray(model.rbm.hidden_probs(data), np.float64)
    exact = data.T @ h_data / len(data) - (states * p[:, None]).T @ h

    errors = {}
    for k in (1, 3, 30):
        keys = row_keys(np.stack([np.zeros(len(batch)), np.arange(len(batch))], 1), stream=k)
        negatives = model.rbm.gibbs(tf.constant(batch), keys, k)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.rbm.free_energy(batch) -
                                  model.rbm.free_energy(negatives))
        estimate = -np.asarray(tape.gradient(loss, model.rbm.w), np.float64)
        errors[k] = np.abs(estimate - exact).max()
    assert errors[30] < 0.5 * errors[1] and errors[30] < 0.05, errors


def test_gibbs_samples_follow_the_enumerated_distribution():
    model = _tiny_rbm(sampling_steps=30)
    n = 20000
    draws = np.asarray(model.sample(n, seed=5, draw=True)).reshape(n, 4)
    codes = draws @ (2 ** np.arange(3, -1, -1))
    counts = np.bincount(codes.astype(int), minlength=16)
    states = _states(4)
    expected = n * np.exp(_exact_log_p(model, states))
    assert abs(expected.sum() - n) < 1e-3 * n
    expected *= n / expected.sum()
    _, p_value = stats.chisquare(counts, expected)
    assert p_value > 1e-3, (counts, expected.round())
    # A wrong distribution fails the same test.
    _, wrong = stats.chisquare(counts, np.roll(expected, 1))
    assert wrong < 1e-6


def test_row_uniforms_are_uniform_and_rows_independent_of_the_batch():
    seeds = np.stack([np.full(2000, 7), np.arange(2000)], 1)
    u = np.asarray(row_uniform(row_keys(seeds), 11, 50))
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    alone = np.asarray(row_uniform(row_keys(seeds[5:6]), 11, 50))
    np.testing.assert_array_equal(alone[0], u[5])
    assert not np.array_equal(u[0], np.asarray(row_uniform(row_keys(seeds[:1]), 12, 50))[0])


def test_persistent_chains_survive_save_and_load_and_reset(tmp_path):
    model = contract.build("rbm", persistent=True, persistent_chains=6)
    model.compile(**model.make_optimizers())
    model.fit(contract.batches(model), epochs=1, verbose=0)
    chains = np.asarray(model.chains)
    assert float(model.chains_started) == 1.0 and chains.std() > 0
    path = str(tmp_path / "rbm.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded.chains), chains)
    assert float(loaded.chains_started) == 1.0
    loaded.reset_chains()
    assert float(loaded.chains_started) == 0.0


def test_the_dbn_trains_one_layer_at_a_time_and_bounds_a_one_layer_exact_likelihood():
    model = contract.build("dbn", layer_steps=2)
    model.compile(**model.make_optimizers())
    before = [np.asarray(w) for w in model.trainable_weights]
    model.fit(contract.batches(model, n=64, batch_size=32), epochs=1, verbose=0)
    moved = [not np.array_equal(b, np.asarray(w)) for b, w in zip(before, model.trainable_weights)]
    assert moved == [True] * 3 + [False] * 3  # two steps: layer 0 only
    # One layer: the bound is the RBM's exact log-likelihood (q is exact).
    one = zoo.get("dbn", image_shape=(2, 2, 1), hidden_layers=(3,))
    rbm = _tiny_rbm()
    for mine, theirs in zip(one.layers_[0].params, rbm.rbm.params):
        mine.assign(theirs)
    one.estimate_log_z()
    rbm.estimate_log_z()
    x = _states(4).reshape(16, 2, 2, 1)
    np.testing.assert_allclose(one.elbo(x), rbm.log_prob(x), rtol=1e-5)
    assert np.exp(np.asarray(rbm.log_prob(x), np.float64)).sum() == pytest.approx(1, abs=1e-4)
    # Two layers: a lower bound on exp-normalized data that sums below 1.
    two = zoo.get("dbn", image_shape=(2, 2, 1), hidden_layers=(3, 2))
    two.estimate_log_z()
    mean_bound = np.mean([np.exp(np.asarray(two.elbo(x, seed=s), np.float64))
                          for s in range(200)], 0)
    assert mean_bound.sum() <= 1.0 + 1e-3


def test_the_gsn_chain_stays_on_the_data_better_than_a_noise_walk():
    keras.utils.set_random_seed(0)
    model = contract.build("gsn", latent_dim=32, hidden_units=(64,), walkback=3,
                           sampling_steps=30)
    model.compile(**model.make_optimizers(3e-3))
    data = contract.batches(model, n=1024, batch_size=64)
    model.fit(data, epochs=15, verbose=0)
    train = np.concatenate([np.asarray(b) for b in data]).reshape(-1, 64)
    samples = np.asarray(model.sample(50, seed=0)).reshape(50, 64)

    def nn_distance(x):
        return np.sqrt(((x[:, None] - train[None]) ** 2).sum(-1)).min(1).mean()

    # The same number of corruptions without the reconstruction, from data.
    walk = train[:50].copy()
    rng = np.random.default_rng(0)
    for _ in range(30):
        walk = np.clip(walk + model.noise_level * rng.normal(size=walk.shape), 0, 1)
    gsn, noise = nn_distance(samples), nn_distance(walk)
    assert gsn < 0.6 * noise, (gsn, noise)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rbm", "dbn"])
def test_the_cli_trains_scores_and_serves_the_likelihood(tmp_path, name):
    out = tmp_path / name
    sets = [f"{k}={v}" for k, v in TINY_CONFIGS[name].items()]
    args = [name, "--epochs", "1", "--out", str(out), "--verbose", "0", "--batch-size", "64"]
    for s in sets:
        args += ["--set", s.replace(" ", "")]
    assert train_cli.main(args) == 0
    evaluation = json.load(open(out / "metrics.json"))["evaluation"]
    column = "test_log_likelihood_nats" if name == "rbm" else "test_elbo_nats"
    assert math.isfinite(evaluation[column]) and evaluation[column] < 0
    assert evaluation["evaluation_data"].startswith("fixed binarization")
    assert "exact enumeration" in str(evaluation) and evaluation["log_z_stderr"] == 0
    assert os.path.isfile(out / "figures" / "chain.png")
    from export import hub

    served = hub.load(out / "export" / name)
    model = keras.saving.load_model(out / "model.keras")
    x = contract.real_images(model, 4)
    if name == "rbm":
        np.testing.assert_allclose(served.predict("log_prob_estimate", images=x)["log_prob"],
                                   model.log_prob(x), rtol=1e-5)
    else:
        seeds = np.array([[1, 0], [1, 1], [1, 2], [1, 3]], np.int32)
        np.testing.assert_allclose(served.predict("elbo", images=x, seed=seeds)["elbo"],
                                   model.elbo_from_seeds(x, seeds), rtol=1e-5)


def test_a_gaussian_rbm_is_scored_as_a_density_with_its_log_z_named():
    from training.likelihood import evaluate

    model = contract.build("rbm", visible="gaussian")
    result = evaluate(model, contract.batches(model, training=False, n=16, batch_size=8))
    assert result["likelihood_kind"] == "density"
    assert result["log_likelihood_estimator"] == (
        "log p*(x) - log Z, log Z by exact enumeration, density dequantized")
    assert math.isfinite(result["test_log_likelihood_nats"])
    # The bound of the dequantized density: the D log 256 shift is applied.
    log_p = float(np.mean(model.log_prob(contract.real_images(model, 16))))
    assert result["test_log_likelihood_nats"] < log_p
