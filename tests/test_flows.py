"""Flows: invertibility, log-determinants by brute force, normalization in 2-D,
Hutchinson's estimator, temperature, actnorm's data-dependent start."""

import math

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests import contract
from zoo.errors import ConfigError, InputError
from zoo.layers import bijectors as bj
from zoo.layers import coupling as cp
from zoo.layers.sampling import per_row_seeds
from zoo.layers.ode import exact_trace, hutchinson_trace, rademacher

TINY_CONFIGS = {
    "nice": dict(hidden_units=(16,), num_couplings=2),
    "realnvp": dict(hidden_channels=8, couplings_per_scale=1, num_scales=1),
    "glow": dict(hidden_channels=8, steps_per_scale=1, num_scales=2),
    "maf": dict(num_layers=2, hidden_units=(16,)),
    "ffjord": dict(hidden_units=(16,), num_steps=2),
}
FLOWS = sorted(TINY_CONFIGS)
# Variants whose code paths the tiny configs miss.
VARIANTS = {
    "nice_normal": ("nice", dict(prior="normal")),
    "realnvp_two_scales": ("realnvp", dict(num_scales=2)),
    "glow_full_1x1": ("glow", dict(lu_decomposed=False)),
    "maf_iaf": ("maf", dict(direction="iaf", normalization=True)),
    "ffjord_estimated": ("ffjord", dict(exact_trace_max_dims=0)),
}
ALL = FLOWS + sorted(VARIANTS)


def perturb(model, scale=0.1, seed=1):
    """Adds noise to every weight so no step is the identity it starts as."""
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(w.numpy() + rng.normal(scale=scale, size=w.shape).astype(np.float32))
    return model


def build(key, image_shape, **overrides):
    name, extra = VARIANTS.get(key, (key, {}))
    kwargs = dict(TINY_CONFIGS[name], **extra, **overrides)
    if name == "ffjord":
        # The default solver steps: codes invert up to RK4's error, O(h^4).
        kwargs["num_steps"] = 8
    if min(image_shape[:2]) < 8:
        kwargs.pop("num_scales", None)  # the default: as many as fit
    return perturb(zoo.get(name, image_shape=image_shape, seed=0, **kwargs))


def points(n, seed=0):
    return np.random.default_rng(seed).uniform(0.02, 0.98, (n, 1, 1, 2)).astype(np.float32)


# ------------------------------------------------------------ invertibility
@pytest.mark.parametrize("key", ALL)
def test_decode_inverts_encode_on_images_and_points(key):
    model = build(key, (8, 8, 1))
    x = contract.real_images(model, 6)
    z = model.encode(x)
    assert z.shape == (6, 64)
    np.testing.assert_allclose(model.decode(z), x, atol=1e-4)
    # And the other way round, from prior draws (inside [0, 1] after decoding).
    z = 0.5 * tf.random.stateless_normal([4, 64], seed=[1, 2])
    y = model.from_latent(z)
    np.testing.assert_allclose(model.to_latent(y)[0], z, atol=2e-4)
    model = build(key, (1, 1, 2))
    x = points(32)
    np.testing.assert_allclose(model.decode(model.encode(x)), x, atol=1e-4)


# ------------------------------------------------------------ log-determinants
def brute_force_log_det(fn, x):
    """log |det d fn(x) / dx| per row from the full Jacobian."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = fn(x)
        z = tf.reshape(z, [x.shape[0], -1])
    jac = tape.batch_jacobian(z, x)
    jac = tf.reshape(jac, [x.shape[0], z.shape[1], -1]).numpy().astype(np.float64)
    return np.linalg.slogdet(jac)[1]


def _steps():
    shape = (4, 4, 2)
    return {
        "logit": (bj.Logit(0.05), (3, 2, 2, 1), "unit"),
        "squeeze": (bj.Squeeze(), (2,) + shape, "real"),
        "actnorm": (bj.ActNorm(), (2,) + shape, "real"),
        "diagonal_scale": (bj.DiagonalScale(), (2, 6), "real"),
        "conv1x1": (bj.Invertible1x1(2, lu=False, seed=3), (2,) + shape, "real"),
        "conv1x1_lu": (bj.Invertible1x1(2, lu=True, seed=3), (2,) + shape, "real"),
        "coupling_checkerboard": (cp.Coupling(cp.coupling_mask(shape, "checkerboard", 1),
                                              cp.conv_conditioner(4, 4, "c1")),
                                  (2,) + shape, "real"),
        "coupling_channel": (cp.Coupling(cp.coupling_mask(shape, "channel", 0),
                                         cp.conv_conditioner(4, 4, "c2")), (2,) + shape, "real"),
        "coupling_additive": (cp.Coupling(cp.coupling_mask((6,), "alternate", 1),
                                          cp.dense_conditioner((8,), 6, "c3"), additive=True),
                              (2, 6), "real"),
        "maf": (cp.AutoregressiveAffine(5, (12,)), (2, 5), "real"),
        "maf_reversed": (cp.AutoregressiveAffine(5, (12,), reverse_order=True), (2, 5), "real"),
        "iaf": (cp.AutoregressiveAffine(5, (12,), direction="iaf"), (2, 5), "real"),
    }


STEPS = _steps()


@pytest.mark.parametrize("name", sorted(STEPS))
def test_step_log_det_matches_brute_force_jacobian_and_reverse_inverts(name):
    step, shape, domain = STEPS[name]
    rng = np.random.default_rng(0)
    x = (rng.uniform(0.05, 0.95, shape) if domain == "unit"
         else rng.normal(size=shape)).astype(np.float32)
    step(tf.constant(x))
    for w in step.trainable_weights:  # away from the identity start
        w.assign(w.numpy() + rng.normal(scale=0.3, size=w.shape).astype(np.float32))
    z, log_det = step(tf.constant(x))
    np.testing.assert_allclose(log_det, brute_force_log_det(lambda v: step(v)[0], x),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(step.reverse(z), x, atol=1e-4)
    if name not in ("squeeze", "coupling_additive"):
        assert np.ptp(log_det) > 0 or abs(float(log_det[0])) > 1e-3, "log-det is trivially 0"


# The estimated trace is not the determinant (see the Hutchinson test).
@pytest.mark.parametrize("key", [k for k in ALL if k != "ffjord_estimated"])
def test_flow_log_det_matches_brute_force_jacobian(key):
    """The whole model: preprocessing, every level and the factored-out parts."""
    model = build(key, (4, 4, 1))
    y = np.random.default_rng(0).uniform(0.05, 0.95, (2, 4, 4, 1)).astype(np.float32)
    _, log_det = model.to_latent(tf.constant(y))
    atol = 2e-3 if key.startswith("ffjord") else 1e-3
    # FFJORD's exact trace integrates the continuous dynamics; the RK4 map's
    # determinant differs from it by the solver's error.
    np.testing.assert_allclose(log_det, brute_force_log_det(lambda v: model.to_latent(v)[0], y),
                               rtol=1e-4, atol=atol)


# --------------------------------------------------------------- densities
@pytest.mark.parametrize("key", ALL)
def test_two_dimensional_density_integrates_to_one(key):
    model = build(key, (1, 1, 2), logit_alpha=0.05)
    low, high = model.preprocess.support()
    n = 300
    edges = np.linspace(low, high, n + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    gx, gy = np.meshgrid(mid, mid, indexing="ij")
    grid = np.stack([gx.ravel(), gy.ravel()], 1).reshape(-1, 1, 1, 2).astype(np.float32)
    # A graph function: FFJORD's eager ODE solve costs ~15 s more here.
    log_density = tf.function(model.log_density)
    log_p = np.concatenate([log_density(grid[i:i + 30000]).numpy()
                            for i in range(0, len(grid), 30000)]).astype(np.float64)
    cell = ((high - low) / n) ** 2
    total = np.exp(log_p).sum() * cell
    # The Hutchinson estimate is not a density's exact log, so only the
    # exact-trace models must integrate to one.
    if key == "ffjord_estimated":
        assert np.isfinite(total)
        return
    assert abs(total - 1.0) < 0.02, total
    assert np.ptp(log_p) > 1.0, "density is trivially flat"


@pytest.mark.parametrize("key", FLOWS)
def test_log_prob_is_the_dequantized_density_on_the_8_bit_scale(key):
    model = build(key, (8, 8, 1))
    x = contract.real_images(model, 4)
    u = model.dequantization_noise(4).numpy()
    y = (np.round(x * 255) + u) / 256
    expected = model.log_density(y) - 64 * math.log(256)
    np.testing.assert_allclose(model.log_prob(x), expected, rtol=1e-5)
    # The fixed noise is the same for every row; a seed draws other noise per row.
    np.testing.assert_array_equal(u[0], u[3])
    seeded = model.log_prob(x, seed=3).numpy()
    assert not np.allclose(seeded, model.log_prob(x))
    # Row i uses seed row [seed, i], alone or in a batch.
    np.testing.assert_allclose(model.log_prob(x[:2], seed=3), seeded[:2], rtol=1e-5)


def test_tfp_transformed_distribution_matches_the_model():
    model = build("realnvp", (4, 4, 1))
    y = np.random.default_rng(0).uniform(0.05, 0.95, (3, 4, 4, 1)).astype(np.float32)
    dist = model.distribution
    np.testing.assert_allclose(dist.log_prob(y), model.log_density(y), rtol=1e-5)
    assert dist.sample(2, seed=[1, 2]).shape == (2, 4, 4, 1)


# -------------------------------------------------------------------- FFJORD
def test_hutchinson_trace_is_unbiased():
    rng = np.random.default_rng(0)
    w = tf.constant(rng.normal(size=(5, 5)).astype(np.float32))

    def fn(v):
        return tf.tanh(v @ w) * 2.0

    x = tf.constant(rng.normal(size=(1, 5)).astype(np.float32))
    _, exact = exact_trace(fn, x)
    probes = 20000
    eps = rademacher([probes, 5], seed=[3, 4])
    _, estimates = hutchinson_trace(fn, tf.repeat(x, probes, 0), eps)
    estimates = estimates.numpy().astype(np.float64)
    stderr = estimates.std() / math.sqrt(probes)
    assert abs(estimates.mean() - float(exact[0])) < 4 * stderr, (estimates.mean(), exact)
    assert estimates.std() > 0.1, "probes are degenerate"
    # Not vacuous: a biased estimator (Gaussian probes scaled by 1.1) fails.
    biased = hutchinson_trace(fn, tf.repeat(x, probes, 0), eps * 1.1)[1].numpy()
    assert abs(biased.mean() - float(exact[0])) > 4 * stderr


def test_ffjord_trains_with_hutchinson_and_evaluates_exactly():
    model = contract.build("ffjord")
    assert model.flow.trace_mode(True) == "hutchinson"
    assert model.flow.trace_mode(False) == "exact"
    assert model.exact_density
    big = zoo.get("ffjord", image_shape=(8, 8, 1), hidden_units=(8,), num_steps=2,
                  exact_trace_max_dims=10)
    assert big.flow.trace_mode(False) == "hutchinson" and not big.exact_density
    from training import datasets
    from training.likelihood import evaluate

    test = datasets.load("digits", "test", batch_size=64, take=64, shuffle=False)
    assert evaluate(big, test, iwae_samples=0)["log_likelihood_estimator"] == \
        "density with a Hutchinson trace estimate, dequantized"


# ------------------------------------------------------------------- Glow parts
def test_actnorm_starts_from_the_first_training_batch_only():
    layer = bj.ActNorm()
    x = tf.constant(np.random.default_rng(0).normal(3.0, 2.0, (64, 4, 4, 3)), tf.float32)
    z, _ = layer(x, training=True)
    np.testing.assert_allclose(tf.reduce_mean(z, [0, 1, 2]), 0, atol=1e-4)
    np.testing.assert_allclose(tf.math.reduce_std(z, [0, 1, 2]), 1, atol=1e-3)
    before = [w.numpy() for w in layer.weights]
    layer(x * 5.0 + 1.0, training=True)
    for b, w in zip(before, layer.weights):
        np.testing.assert_array_equal(b, w.numpy())
    fresh = bj.ActNorm()
    np.testing.assert_array_equal(fresh(x, training=False)[0], x)  # no init outside training


def test_glow_fit_initializes_actnorm_and_survives_a_keras_round_trip(tmp_path):
    model = contract.fit_step("glow")
    flags = [w for w in model.weights if "initialized" in w.path]
    assert flags and all(float(w.numpy()) == 1.0 for w in flags)


def test_temperature_scales_the_prior_noise():
    model = build("glow", (8, 8, 1))
    cold = model.sample(3, seed=1, temperature=0.0)
    np.testing.assert_allclose(cold[0], cold[2], atol=1e-6)
    np.testing.assert_allclose(cold[0], model.decode(np.zeros((1, 64), np.float32))[0],
                               atol=1e-6)
    warm = model.sample(3, seed=1, temperature=0.7)
    np.testing.assert_allclose(warm, model.decode(0.7 * model.prior_noise(
        per_row_seeds(3, 1))), atol=1e-5)
    with pytest.raises(InputError, match="temperature"):
        model.sample(2, seed=0, temperature=-1.0)


# --------------------------------------------------------------- bad configs
@pytest.mark.parametrize("name,kwargs,message", [
    ("realnvp", dict(image_shape=(6, 6, 1), num_scales=2), "num_scales"),
    ("glow", dict(image_shape=(3, 3, 1), num_scales=0), "C >= 2"),
    ("nice", dict(image_shape=(1, 1, 1)), "at least 2 dimensions"),
    ("maf", dict(direction="sideways"), "direction"),
    ("nice", dict(logit_alpha=0.5), "logit_alpha"),
])
def test_bad_configs_are_clear_errors(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        zoo.get(name, **{"image_shape": (8, 8, 1), **kwargs})


def test_bad_inputs_are_clear_errors():
    model = contract.build("nice")
    with pytest.raises(InputError, match="shape"):
        model.log_prob(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(InputError):
        model.decode(np.zeros((2, 63), np.float32))
    with pytest.raises(InputError, match="y must have shape"):
        model.log_density(np.zeros((2, 64), np.float32))


# ------------------------------------------------- 2-D toys, figures, the CLI
def test_toy_datasets_are_seeded_points_in_the_unit_square_of_any_size():
    from training import datasets
    from training.datasets.toy import GENERATORS, toy_points

    for name, (_, num_classes) in GENERATORS.items():
        images, labels, classes = toy_points(f"{name}:123:4")
        assert images.shape == (123, 1, 1, 2) and images.dtype == np.uint8
        assert classes == num_classes
        assert (labels is None) == (num_classes is None)
        if labels is not None:
            assert set(np.unique(labels)) == set(range(num_classes))
        np.testing.assert_array_equal(images, toy_points(f"{name}:123:4")[0])
        assert not np.array_equal(images, toy_points(f"{name}:123:5")[0])
        assert images.std() > 20, "points are not spread over the square"
    info = datasets.info("toy:rings")
    assert info.image_shape == (1, 1, 2) and sum(info.num_examples.values()) == 10000
    with pytest.raises(datasets.DatasetError, match="two_moons, 8gaussians"):
        datasets.info("toy:spiral")
    with pytest.raises(datasets.DatasetError, match="N must be"):
        datasets.info("toy:rings:-4")
    with pytest.raises(datasets.DatasetError, match="cannot be resized"):
        datasets.info("toy:rings", image_size=(8, 8))


def test_the_moons_have_the_known_shape():
    from training.datasets.toy import toy_points

    images, labels, _ = toy_points("two_moons:4000")
    p = images.reshape(-1, 2) / 255.0
    # The upper moon's points lie above the lower moon's on average, and its
    # centre of mass is left of the lower moon's.
    upper, lower = p[labels == 0], p[labels == 1]
    assert upper[:, 1].mean() > lower[:, 1].mean() + 0.1
    assert upper[:, 0].mean() < lower[:, 0].mean() - 0.1


def test_point_figures_show_the_density_or_samples():
    from training.images import point_figure

    flow = build("realnvp", (1, 1, 2))
    heat = point_figure(flow, size=32)
    assert heat.shape == (32, 32, 3) and heat.dtype == np.uint8 and np.ptp(heat) > 100
    gan = zoo.get("gan", image_shape=(1, 1, 2), **contract.tiny("gan"))
    dots = point_figure(gan, num_samples=500, size=64)
    assert dots.shape == (64, 64, 1) and 0 < np.count_nonzero(dots) <= 500


@pytest.mark.parametrize("name", ["glow", "gan"])
def test_trains_on_a_toy_dataset_through_the_cli(name, tmp_path):
    import json
    import os

    from PIL import Image

    from training import train as train_cli

    tiny = contract.tiny(name)
    overrides = [f"{k}={v}" for k, v in tiny.items() if k != "num_scales"]
    sets = sum((["--set", o] for o in overrides), [])
    out = str(tmp_path / name)
    assert train_cli.main([name, "--dataset", "toy:8gaussians:400", "--epochs", "2",
                           "--out", out, "--verbose", "0"] + sets) == 0
    figure = np.asarray(Image.open(os.path.join(out, "samples", "epoch_002.png")))
    assert figure.shape[:2] == (256, 256) and np.ptp(figure) > 100
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert os.path.isfile(os.path.join(out, "export", name, "1", "saved_model.pb"))
    if name == "glow":
        ev = metrics["evaluation"]
        assert ev["evaluation_data"] == "uniformly dequantized 8-bit"
        assert ev["log_likelihood_estimator"] == "exact density, dequantized"
        assert 0 < ev["test_nll_bits_per_dim"] < 8.5


def test_bad_requests_to_an_exported_flow_fail_in_the_graph(tmp_path):
    from export import export_model

    model = contract.build("glow")
    path = str(tmp_path / "glow")
    export_model(model, path)
    loaded = tf.saved_model.load(path)
    seed = tf.constant([[1, 2], [3, 4]], tf.int32)
    out = loaded.signatures["sample_temperature"](seed=seed,
                                                  temperature=tf.constant([0.0, 0.5]))
    np.testing.assert_allclose(out["images"][0], model.decode(np.zeros((1, 64), np.float32))[0],
                               atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="temperature"):
        loaded.signatures["sample_temperature"](seed=seed, temperature=tf.constant([1.0, -1.0]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["log_prob"](images=tf.fill([1, 8, 8, 1], 2.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="z must have 64 columns"):
        loaded.signatures["decode"](z=tf.zeros([1, 63]))
