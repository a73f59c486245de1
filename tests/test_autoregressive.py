"""Autoregressive family: causality, normalization, samplers, bad input."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from zoo.errors import ConfigError, InputError

SMALL = {
    "pixelcnn": dict(filters=6, num_layers=2, first_kernel_size=3),
    "gated_pixelcnn": dict(filters=6, num_layers=2),
    "pixelcnn_pp": dict(filters=6, num_resnet=1, num_mixtures=2, dropout=0.0),
    "pixelrnn_row": dict(units=6, num_layers=1, variant="row"),
    "pixelrnn_diagonal": dict(units=6, num_layers=1, variant="diagonal"),
    "nade": dict(hidden_units=6),
    "made": dict(hidden_units=(12, 12)),
}
MODELS = list(SMALL)
tfd = tfp.distributions

# Tiny configs for the shared contract (tests/contract.py).
TINY_CONFIGS = {
    "pixelcnn": dict(filters=8, num_layers=2, first_kernel_size=5),
    "gated_pixelcnn": dict(filters=8, num_layers=2, num_classes=10),
    "pixelcnn_pp": dict(filters=8, num_resnet=1, num_mixtures=2),
    "pixelrnn": dict(units=4, num_layers=1),
    "nade": dict(hidden_units=8),
    "made": dict(hidden_units=(16,), num_masks=2),
}


def build(key, image_shape, num_levels, weight_scale=0.5, **overrides):
    name = key.split("_row")[0].split("_diagonal")[0]
    kwargs = dict(SMALL[key], image_shape=image_shape, num_levels=num_levels, seed=0)
    kwargs.update(overrides)
    model = zoo.get(name, **kwargs)
    # Non-zero biases and larger weights make the conditionals far from
    # uniform, so the checks below see real dependencies.
    rng = np.random.default_rng(1)
    for w in model.weights:
        w.assign(rng.normal(scale=weight_scale, size=w.shape).astype(np.float32))
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


def level_digits(shape, num_levels):
    """The levels of every image of `all_images(shape, num_levels)`, [K, H*W*C]."""
    return np.rint(all_images(shape, num_levels) * (num_levels - 1)).reshape(
        num_levels ** int(np.prod(shape)), -1).astype(np.int64)


def image_index(images, num_levels):
    """Position of each image in `all_images` (base-L digits in raster order)."""
    digits = np.rint(np.asarray(images) * (num_levels - 1)).astype(np.int64)
    digits = digits.reshape(len(digits), -1)
    return digits @ num_levels ** np.arange(digits.shape[1])[::-1]


def chi_square_pvalue(indices, probs):
    """Pearson's chi-square p-value of drawn image indices under `probs`.

    The least likely images are pooled into one cell until it expects at
    least 5 draws, where the chi-square approximation holds.
    """
    counts = np.bincount(indices, minlength=len(probs)).astype(np.float64)
    expected = probs * len(indices)
    order = np.argsort(expected)
    num_small = int(np.sum(expected < 5))
    if num_small:
        num_small = max(num_small,
                        int(np.searchsorted(np.cumsum(expected[order]), 5.0)) + 1)
        pooled, kept = order[:num_small], order[num_small:]
        counts = np.append(counts[kept], counts[pooled].sum())
        expected = np.append(expected[kept], expected[pooled].sum())
    stat = np.sum((counts - expected) ** 2 / expected)
    return float(tfd.Chi2(np.float64(len(counts) - 1)).survival_function(stat))


def product_of_marginals(probs, digits):
    """The law with the per-dimension marginals of `probs` and no dependence."""
    out = np.ones_like(probs)
    for d in range(digits.shape[1]):
        marginal = np.bincount(digits[:, d], weights=probs)
        out *= marginal[digits[:, d]]
    return out


NUM_DRAWS = 8000
ALPHA = 1e-3
# gated_pixelcnn's tanh * sigmoid gates damp what reaches a pixel from its
# past: at the usual weight scale its pixels are nearly independent, and the
# goodness-of-fit test could not tell a sampler that ignores the context;
# so are NADE's and MADE's small networks.
FIT_WEIGHT_SCALE = {"gated_pixelcnn": 1.0, "made": 1.5, "nade": 1.5}


def draw(model, num_samples, seed, labels=None):
    """`model.sample(num_samples, seed)`, traced: eager sampling draws each
    row's noise in a Python-driven map_fn (~1 ms a row), a graph does not."""
    seeds = np.stack([np.full(num_samples, seed), np.arange(num_samples)], 1)
    return tf.function(model.sample_from_seeds)(seeds.astype(np.int32), labels).numpy()


def assert_draws_follow(images, probs, shape, num_levels, what):
    """Drawn images fit `probs` at level ALPHA; near misses are rejected."""
    np.testing.assert_allclose(probs.sum(), 1.0, atol=1e-4)
    levels = images * (num_levels - 1)
    np.testing.assert_allclose(levels, np.rint(levels), atol=1e-5)
    indices = image_index(images, num_levels)
    pvalue = chi_square_pvalue(indices, probs)
    assert pvalue > ALPHA, f"{what}: draws do not follow exp(log_prob), p = {pvalue:.2e}"
    # Power: the same draws reject the uniform law, the law at temperature
    # 1.25 (a sampler with mis-scaled logits), and the law with the right
    # marginals but no dependence between dimensions (close to what a
    # sampler that loses each pixel's context draws).
    near_misses = {
        "uniform": np.full_like(probs, 1.0 / len(probs)),
        "tempered": probs ** 0.8 / np.sum(probs ** 0.8),
        "independent": product_of_marginals(probs, level_digits(shape, num_levels)),
    }
    for name, wrong in near_misses.items():
        p_wrong = chi_square_pvalue(indices, wrong)
        assert p_wrong < ALPHA, f"{what}: no power against the {name} law, p = {p_wrong:.2e}"


@pytest.mark.parametrize("key,shape,num_levels", [
    *[(key, (2, 2, 1), 2) for key in MODELS],
    ("pixelcnn", (2, 1, 1), 4),        # categorical levels: the Gumbel-max branch
    ("gated_pixelcnn", (1, 2, 2), 2),  # two channels of a pixel, in order
    ("pixelcnn_pp", (2, 1, 1), 4),
    ("pixelcnn_pp", (1, 1, 2), 4),     # channel means coupled within the pixel
], ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_samples_follow_log_prob(key, shape, num_levels):
    """Chi-square goodness of fit of `sample` to exp(log_prob) over every image."""
    model = build(key, shape, num_levels, weight_scale=FIT_WEIGHT_SCALE.get(key, 0.5))
    probs = np.exp(model.log_prob(all_images(shape, num_levels)).numpy().astype(np.float64))
    draws = draw(model, NUM_DRAWS, seed=7)
    assert_draws_follow(draws, probs, shape, num_levels, f"{key} {shape} L={num_levels}")


def test_conditional_samples_follow_log_prob():
    shape, num_levels = (2, 2, 1), 2
    model = build("gated_pixelcnn", shape, num_levels, num_classes=2,
                  weight_scale=FIT_WEIGHT_SCALE["gated_pixelcnn"])
    images = all_images(shape, num_levels)
    probs = [np.exp(model.log_prob(images, labels=np.full(len(images), label, np.int32))
                    .numpy().astype(np.float64)) for label in (0, 1)]
    labels = np.repeat(np.array([0, 1], np.int32), NUM_DRAWS)
    draws = draw(model, 2 * NUM_DRAWS, seed=7, labels=labels)
    for label in (0, 1):
        assert_draws_follow(draws[labels == label], probs[label], shape, num_levels,
                            f"label {label}")
    # The label reaches the sampler: label-0 draws do not fit label 1's law.
    pvalue = chi_square_pvalue(image_index(draws[labels == 0], num_levels), probs[1])
    assert pvalue < ALPHA, pvalue


@pytest.mark.parametrize("shape,num_levels,known", [
    ((4, 3, 1), 4, [0, 2, 1]), ((3, 3, 3), 2, [0, 2, 1]),
    ((4, 3, 1), 4, [2, 4, 3])])  # rows 0-1 known everywhere: the loop skips them
@pytest.mark.parametrize("key", ["pixelcnn", "gated_pixelcnn", "pixelcnn_pp", "nade"])
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


@pytest.mark.parametrize("key", ["gated_pixelcnn", "pixelcnn_pp", "nade", "made"])
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


def dropout_masks(model):
    """The first training-mode dropout mask of each PixelCNN++ block, on ones."""
    ones = tf.ones([2, 4, 4, 2 * model.filters])
    return [block.dropout(ones, training=True).numpy() != 0
            for block in model.u_blocks + model.ul_blocks]


def test_pixelcnn_pp_blocks_draw_their_own_dropout_masks():
    kwargs = dict(dropout=0.5, num_resnet=2)
    masks = dropout_masks(build("pixelcnn_pp", (4, 4, 1), 2, **kwargs))
    assert len(masks) == 4
    for (i, a), (j, b) in itertools.combinations(enumerate(masks), 2):
        assert not np.array_equal(a, b), f"blocks {i} and {j} drop the same units"
    # The masks are a function of the model seed: the same seed gives them
    # back, a neighbouring seed shares none of them.
    again = dropout_masks(build("pixelcnn_pp", (4, 4, 1), 2, **kwargs))
    for a, b in zip(masks, again):
        np.testing.assert_array_equal(a, b)
    other = dropout_masks(build("pixelcnn_pp", (4, 4, 1), 2, seed=1, **kwargs))
    for (i, a), (j, b) in itertools.product(enumerate(masks), enumerate(other)):
        assert not np.array_equal(a, b), f"block {i} of seed 0 and block {j} of seed 1"


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


@pytest.mark.parametrize("shape,num_levels", [((2, 2, 1), 4), ((2, 2, 1), 2)])
def test_made_mask_ensemble_is_normalized_and_sampled_as_a_mixture(shape, num_levels):
    model = build("made", shape, num_levels, num_masks=3, hidden_units=(12,))
    images = all_images(shape, num_levels)
    log_p = model.log_prob(images).numpy().astype(np.float64)
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, atol=1e-4)
    # The ensemble is the mean of the connectivities' laws, none of them alone.
    levels = model.to_levels(images)
    x = model.levels_to_input(levels)
    per_mask = [np.exp(tf.reduce_sum(tf.reshape(model._log_prob_terms(
        model.network_output(x) if k == 0 else tf.cast(model._network(x, mask_index=k),
                                                      tf.float32), levels, x),
        [len(images), -1]), 1).numpy().astype(np.float64)) for k in range(3)]
    np.testing.assert_allclose(np.exp(log_p), np.mean(per_mask, 0), rtol=1e-4)
    assert np.abs(per_mask[0] - per_mask[1]).max() > 1e-3, "the masks do not differ"
    draws = draw(model, NUM_DRAWS, seed=7)
    assert_draws_follow(draws, np.exp(log_p), shape, num_levels, f"made K=3 L={num_levels}")
    # Each training step uses one connectivity: the loss of a batch is one
    # of the three masks' losses.
    terms = model.loss_terms(tf.constant(images[:4]), None, training=True)["loss"].numpy()
    candidates = [-np.log(p[:4]) / model.num_dims for p in per_mask]
    assert min(np.abs(terms - c).max() for c in candidates) < 1e-4
