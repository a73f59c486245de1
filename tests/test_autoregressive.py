"""Autoregressive family: causality, normalization, samplers, bad input."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.errors import ConfigError, InputError

SMALL = {
    "pixelcnn": dict(filters=6, num_layers=2, first_kernel_size=3),
    "gated_pixelcnn": dict(filters=6, num_layers=2),
    "pixelcnn_pp": dict(filters=6, num_resnet=1, num_mixtures=2, dropout=0.0),
    "pixelrnn_row": dict(units=6, num_layers=1, variant="row"),
    "pixelrnn_diagonal": dict(units=6, num_layers=1, variant="diagonal"),
}
MODELS = list(SMALL)


def build(key, image_shape, num_levels, **overrides):
    name = key.split("_row")[0].split("_diagonal")[0]
    kwargs = dict(SMALL[key], image_shape=image_shape, num_levels=num_levels, seed=0)
    kwargs.update(overrides)
    model = zoo.get(name, **kwargs)
    # Non-zero biases and larger weights make the conditionals far from
    # uniform, so the checks below see real dependencies.
    rng = np.random.default_rng(1)
    for w in model.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype(np.float32))
    return model


def jacobian(model, x_levels, labels=None):
    """d terms / d network input, [D_terms, H*W*C], with terms flattened."""
    x = tf.constant(model.levels_to_input(x_levels))
    with tf.GradientTape() as tape:
        tape.watch(x)
        terms = model._log_prob_terms(model._network(x, labels), x_levels, x)
        flat = tf.reshape(terms, [-1])
    return tape.jacobian(flat, x).numpy().reshape(flat.shape[0], -1), terms.shape


@pytest.mark.parametrize("key", MODELS)
@pytest.mark.parametrize("channels", [1, 3])
def test_causality_by_gradients(key, channels):
    shape = (4, 4, channels)
    model = build(key, shape, num_levels=4)
    levels = tf.constant(np.random.default_rng(0).integers(0, 4, (1,) + shape), tf.float32)
    jac, term_shape = jacobian(model, levels)
    num_dims = int(np.prod(shape))
    # Terms per dimension (one per channel) or per pixel (channels jointly).
    dims_per_term = num_dims // jac.shape[0]
    for t in range(jac.shape[0]):
        first_own = t * dims_per_term
        assert np.all(jac[t, first_own:] == 0), \
            f"{key}: term {t} depends on input {first_own + np.flatnonzero(jac[t, first_own:])}"
    # Not vacuous: the last term depends on the past.
    assert np.count_nonzero(jac[-1]) > 0


def test_gated_pixelcnn_has_no_blind_spot_and_pixelcnn_has_one():
    shape = (5, 5, 1)
    gated = build("gated_pixelcnn", shape, 2, num_layers=5)
    plain = build("pixelcnn", shape, 2, num_layers=4)
    levels = tf.constant(np.random.default_rng(0).integers(0, 2, (1,) + shape), tf.float32)
    target = 4 * 5 + 2  # bottom row, middle: its whole past is in reach
    grad_gated = jacobian(gated, levels)[0][target]
    assert np.all(grad_gated[:target] != 0), np.flatnonzero(grad_gated[:target] == 0)
    # The check can fail: a stack of 3x3 masked convolutions misses the
    # upper right of the past ([1] of gated_pixelcnn, fig. 1).
    grad_plain = jacobian(plain, levels)[0][target]
    assert np.any(grad_plain[:target] == 0)


def all_images(shape, num_levels):
    d = int(np.prod(shape))
    grid = np.array(list(itertools.product(range(num_levels), repeat=d)), np.float32)
    return grid.reshape((-1,) + shape) / (num_levels - 1)


@pytest.mark.parametrize("key", MODELS)
@pytest.mark.parametrize("shape,num_levels", [((2, 2, 1), 4), ((2, 2, 3), 2)])
def test_probabilities_sum_to_one(key, shape, num_levels):
    model = build(key, shape, num_levels)
    images = all_images(shape, num_levels)
    log_p = model.log_prob(images).numpy().astype(np.float64)
    assert log_p.shape == (len(images),)
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, atol=1e-4)
    assert np.ptp(log_p) > 0.5, "conditionals are trivially uniform"


def test_probabilities_sum_to_one_conditional():
    model = build("gated_pixelcnn", (2, 2, 1), 4, num_classes=3)
    images = all_images((2, 2, 1), 4)
    for label in range(3):
        labels = np.full(len(images), label, np.int32)
        total = np.exp(model.log_prob(images, labels=labels).numpy().astype(np.float64)).sum()
        np.testing.assert_allclose(total, 1.0, atol=1e-4)


@pytest.mark.parametrize("shape,num_levels,known", [
    ((4, 3, 1), 4, [0, 2, 1]), ((3, 3, 3), 2, [0, 2, 1]),
    ((4, 3, 1), 4, [2, 4, 3])])  # rows 0-1 known everywhere: the loop skips them
@pytest.mark.parametrize("key", ["pixelcnn", "gated_pixelcnn", "pixelcnn_pp"])
def test_cached_sampler_equals_naive(key, shape, num_levels, known):
    model = build(key, shape, num_levels)
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]], tf.int32)
    noise = model._noise(seeds)
    known = tf.constant(known, tf.int32)
    images = tf.constant(np.random.default_rng(0).integers(0, num_levels, (3,) + shape),
                         tf.float32)
    naive = model._complete_naive(images, known, noise).numpy()
    cached = model._complete_cached(images, known, noise).numpy()
    np.testing.assert_array_equal(cached, naive)
    assert len(np.unique(naive)) > 1


@pytest.mark.parametrize("key", ["gated_pixelcnn", "pixelcnn_pp"])
def test_complete_keeps_known_rows(key):
    model = build(key, (4, 4, 1), 4)
    images = np.random.default_rng(0).integers(0, 4, (3, 4, 4, 1)).astype(np.float32) / 3
    out = model.complete(images, np.array([0, 2, 4], np.int32), seed=5).numpy()
    np.testing.assert_allclose(out[1, :2], images[1, :2], atol=1e-6)
    np.testing.assert_allclose(out[2], images[2], atol=1e-6)
    levels = out * 3
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-5)
    # Row 0 is resampled, independent of what the input said there.
    again = model.complete(1.0 - images, np.array([0, 2, 4], np.int32), seed=5).numpy()
    np.testing.assert_array_equal(again[0], out[0])


def test_class_conditional_sampling_and_labels():
    model = build("gated_pixelcnn", (3, 3, 1), 2, num_classes=2)
    a = model.sample(4, seed=1, labels=np.array([0, 0, 1, 1]))
    assert a.shape == (4, 3, 3, 1)
    with pytest.raises(InputError, match="class-conditional"):
        model.sample_from_seeds(np.zeros((2, 2), np.int32))
    with pytest.raises(InputError, match="class-conditional"):
        model.log_prob(np.zeros((1, 3, 3, 1), np.float32))
    with pytest.raises(InputError, match="labels must lie"):
        model.log_prob(np.zeros((1, 3, 3, 1), np.float32), labels=np.array([2]))


def test_bad_input_in_python():
    model = build("pixelcnn", (4, 4, 1), 2)
    good = np.zeros((2, 4, 4, 1), np.float32)
    with pytest.raises(InputError, match="shape"):
        model.log_prob(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        model.log_prob(good + 2.0)
    with pytest.raises(InputError, match="num_known_rows"):
        model.complete(good, np.array([0, 5], np.int32))
    with pytest.raises(InputError, match="num_known_rows"):
        model.complete(good, np.array([-1, 0], np.int32))
    with pytest.raises(InputError, match="not class-conditional"):
        model.sample(2, seed=0, labels=np.array([0, 1]))
    with pytest.raises(InputError, match="not class-conditional"):
        model.log_prob(good, labels=np.array([0, 1]))
    with pytest.raises(ConfigError):
        zoo.get("pixelcnn", image_shape=(4, 4, 3), filters=8)
    with pytest.raises(ConfigError):
        zoo.get("pixelcnn_pp", image_shape=(4, 4, 1), dropout=1.5)


def test_bad_input_through_export(tmp_path):
    from export import export_model

    model = build("pixelcnn", (4, 4, 1), 2)
    export_model(model, str(tmp_path / "m"))
    loaded = tf.saved_model.load(str(tmp_path / "m"))
    images = tf.zeros([2, 4, 4, 1])
    seeds = tf.zeros([2, 2], tf.int32)
    ok = loaded.signatures["complete"](images=images, num_known_rows=tf.constant([0, 4]),
                                       seed=seeds)
    assert ok["images"].shape == (2, 4, 4, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_known_rows"):
        loaded.signatures["complete"](images=images, num_known_rows=tf.constant([0, 5]),
                                      seed=seeds)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_known_rows"):
        loaded.signatures["complete"](images=images, num_known_rows=tf.constant([-1, 0]),
                                      seed=seeds)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        loaded.signatures["log_prob"](images=images - 0.5)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="shape"):
        loaded.signatures["log_prob"](images=tf.zeros([2, 4, 4, 3]))
    np.testing.assert_allclose(loaded.signatures["log_prob"](images=images)["log_prob"],
                               model.log_prob(images), rtol=1e-5)


def test_cached_sampler_equals_naive_class_conditional():
    model = build("gated_pixelcnn", (3, 3, 1), 4, num_classes=3)
    seeds = tf.constant([[1, 2], [3, 4], [5, 6]], tf.int32)
    noise = model._noise(seeds)
    labels = tf.constant([0, 2, 1], tf.int32)
    zeros, known = tf.zeros([3, 3, 3, 1]), tf.zeros([3], tf.int32)
    naive = model._complete_naive(zeros, known, noise, labels).numpy()
    np.testing.assert_array_equal(model._complete_cached(zeros, known, noise, labels), naive)
    other = model._complete_naive(zeros, known, noise, tf.constant([1, 0, 2], tf.int32))
    assert not np.array_equal(other, naive), "labels are ignored"


def test_evaluate_reports_exact_log_prob_for_conditional_model():
    from training import datasets
    from training.likelihood import evaluate

    model = zoo.get("gated_pixelcnn", image_shape=(8, 8, 1), filters=4, num_layers=1,
                    num_classes=10, seed=0)
    data = datasets.load("digits", "test", batch_size=4, mode=model.preprocessing(False),
                         take=8, shuffle=False, labels=True)
    results = evaluate(model, data)
    assert results["log_likelihood_estimator"] == "exact"
    x, y = next(iter(data.unbatch().batch(8)))
    expected = float(np.mean(model.log_prob(x, labels=y)))
    np.testing.assert_allclose(results["test_log_likelihood_nats"], expected, rtol=1e-5)


def test_sample_grid_callback_passes_labels_to_conditional_models(tmp_path):
    from training.callbacks import SampleGrid

    model = zoo.get("gated_pixelcnn", image_shape=(3, 3, 1), filters=2, num_layers=1,
                    num_classes=2, seed=0)
    callback = SampleGrid(str(tmp_path), num_samples=4)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0)
    assert (tmp_path / "epoch_001.png").exists()
