"""The spine every family builds on: config, training step, checks, endpoints."""

import ast
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests import contract
from zoo import checks
from zoo.base import GenerativeModel
from zoo.errors import ConfigError, InputError
from zoo.layers.sampling import per_row_seeds
from zoo.vae.vae import VAE

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------- config
def test_config_records_defaults_and_passed_values():
    model = zoo.get("vae", image_shape=[8, 8, 1], latent_dim=np.int64(3),
                    hidden_units=[8])
    config = model.get_config()
    # Passed values, normalized (NumPy ints -> int, lists -> tuples) ...
    assert config["latent_dim"] == 3 and type(config["latent_dim"]) is int
    assert config["hidden_units"] == (8,) and config["image_shape"] == (8, 8, 1)
    # ... and every default the constructor applied.
    assert config["beta"] == 1.0 and config["likelihood"] == "bernoulli"
    assert config["seed"] is None and config["name"] == model.name


def test_subclass_config_is_its_own_constructor():
    class Wider(VAE):
        def __init__(self, width=5, **kwargs):
            super().__init__(hidden_units=(width,), latent_dim=2, **kwargs)

    class Same(VAE):
        pass

    config = Wider(width=7).get_config()
    # Only the outermost constructor speaks; VAE's arguments set by Wider are not config.
    assert set(config) == {"name", "width"} and config["width"] == 7
    same = Same(latent_dim=2, hidden_units=(4,)).get_config()
    assert same["latent_dim"] == 2 and "width" not in same
    clone = Wider.from_config(config)
    assert clone.hidden_units == (7,)


def test_no_model_writes_its_own_get_config():
    """Config is recorded once: no zoo model class defines get_config."""
    offenders = [name for name in zoo.list_models()
                 for cls in type.mro(zoo.get_class(name))
                 if issubclass(cls, GenerativeModel) and cls is not GenerativeModel
                 and "get_config" in vars(cls)]
    assert offenders == []


# --------------------------------------------------------------- train step
def _classes_defining(method):
    found = []
    for root, _, files in os.walk(os.path.join(REPO, "zoo")):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            tree = ast.parse(open(path).read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                        isinstance(b, ast.FunctionDef) and b.name == method
                        for b in node.body):
                    found.append(f"{os.path.relpath(path, REPO)}:{node.name}")
    return sorted(found)


def test_training_step_lives_once():
    """The single-optimizer step is the base's; only the two-player GAN step differs."""
    assert _classes_defining("train_step") == [
        "zoo/base.py:GenerativeModel", "zoo/gan/base.py:GANBase"]
    assert _classes_defining("test_step") == [
        "zoo/base.py:GenerativeModel", "zoo/gan/base.py:GANBase"]


def test_no_keras_src_imports():
    hits = []
    for top in ("zoo", "training", "export", "tests", "bench"):
        for root, _, files in os.walk(os.path.join(REPO, top)):
            for f in files:
                if f.endswith(".py") and "keras.src" in open(os.path.join(root, f)).read() \
                        and f != "test_spine.py":
                    hits.append(os.path.join(root, f))
    assert hits == []


class _Toy(GenerativeModel):
    """A one-weight model whose loss terms are known in closed form."""

    metric_names = ("loss", "half")

    def __init__(self, image_shape=(2, 2, 1), **kwargs):
        super().__init__(image_shape=image_shape, **kwargs)
        self.w = self.add_weight(shape=(), initializer="ones", name="w")
        self.built = True

    def loss_terms(self, images, labels, training):
        per_image = self.w * tf.reduce_sum(images, axis=[1, 2, 3])
        return {"loss": per_image, "half": per_image / 2}


def test_base_step_reduces_terms_and_reports_them():
    model = _Toy()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x = np.arange(16, dtype=np.float32).reshape(4, 2, 2, 1) / 16
    logs = model.train_step(tf.constant(x))
    # The loss is the mean of the per-image terms, reported under each name.
    expected = x.sum(axis=(1, 2, 3)).mean()
    np.testing.assert_allclose(float(logs["loss"]), expected, rtol=1e-6)
    np.testing.assert_allclose(float(logs["half"]), expected / 2, rtol=1e-6)
    # d(mean_i w * s_i)/dw = mean_i s_i; one SGD step of 0.1.
    np.testing.assert_allclose(float(model.w), 1 - 0.1 * expected, rtol=1e-6)
    # (images, labels) batches unpack to the same images for an unconditional model.
    test = model.test_step((tf.constant(x), tf.constant([0, 1, 2, 3])))
    assert np.isfinite(float(test["loss"]))


def test_unknown_loss_term_is_named():
    class Bad(_Toy):
        def loss_terms(self, images, labels, training):
            return dict(super().loss_terms(images, labels, training), extra=images[:, 0, 0, 0])

    model = Bad()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="extra"):
        model.train_step(tf.zeros((2, 2, 2, 1)))


def test_optimizer_defaults_are_one_mechanism():
    model = contract.build("vae")
    opt = model.make_optimizers()["optimizer"]
    assert isinstance(opt, keras.optimizers.Adam)
    np.testing.assert_allclose(float(opt.learning_rate), 1e-3)
    opt = model.make_optimizers(learning_rate=0.05)["optimizer"]
    np.testing.assert_allclose(float(opt.learning_rate), 0.05)


# ------------------------------------------------------------------- checks
@pytest.mark.parametrize("check, args, bad, message", [
    (checks.positive_int, (), 0, "positive integer"),
    (checks.positive_int, (), True, "positive integer"),
    (checks.odd_int, (), 4, "odd"),
    (checks.positive_ints, (), (), "not be empty"),
    (checks.non_negative_float, (), -1e-3, r"\[0.0, inf\]"),
    (checks.non_negative_float, (), float("nan"), "number"),
    (checks.open_unit_float, (), 1.0, r"\(0.0, 1.0\)"),
    (checks.choice, (("a", "b"),), "c", "one of 'a', 'b'"),
    (checks.multiple_of, (3, "channels"), 4, "multiple of the channels"),
    (checks.int_in_range, (2, 256), 1, r"\[2, 256\]"),
])
def test_validators_name_the_argument(check, args, bad, message):
    with pytest.raises(ConfigError, match=message) as info:
        check("arg", bad, *args)
    assert "arg" in str(info.value)


def test_validators_accept_good_values():
    assert checks.positive_ints("h", [3, np.int32(4)]) == (3, 4)
    assert checks.positive_ints("h", None, allow_empty=True) == ()
    assert checks.number("x", 0.5, 0.0, 1.0, high_open=True) == 0.5
    assert checks.optional(checks.positive_int, "n", None) is None


def test_int_vector_checks_in_python_and_in_graph():
    with pytest.raises(InputError, match=r"labels must lie in \[0, 3\)"):
        checks.labels([0, 3], 3)
    with pytest.raises(InputError, match=r"k must lie in \[1, 4\]"):
        checks.int_vector("k", [0], 1, 4)
    fn = tf.function(lambda v: checks.labels(v, 3),
                     input_signature=[tf.TensorSpec([None], tf.int32)])
    np.testing.assert_array_equal(fn(tf.constant([0, 2])), [0, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must be in \[0, 3\)"):
        fn(tf.constant([3]))


# ---------------------------------------------------------------- endpoints
def test_endpoint_adds_a_checked_label_input():
    model = contract.build("gated_pixelcnn")
    fn, specs = model.endpoint(lambda images, labels=None: {"n": labels}, model.image_spec())
    assert [s.name for s in specs] == ["images", "label"]
    np.testing.assert_array_equal(fn(tf.zeros((2, 8, 8, 1)), tf.constant([1, 2]))["n"], [1, 2])
    with pytest.raises(InputError):
        fn(tf.zeros((1, 8, 8, 1)), np.array([model.num_classes]))
    unlabelled, specs = contract.build("pixelcnn").endpoint(lambda images: {}, model.image_spec())
    assert [s.name for s in specs] == ["images"]


# -------------------------------------------------- VAE means versus draws
def test_vae_offers_means_and_draws():
    model = contract.build("vae")
    assert model.samples_are_means
    means = model.sample(6, seed=2).numpy()
    draws = model.sample(6, seed=2, draw=True).numpy()
    # Bernoulli draws are binary images; the means are probabilities.
    assert set(np.unique(draws)) <= {0.0, 1.0}
    assert not np.all(np.isin(means, [0.0, 1.0]))
    # Draws come from p(x|z) with those means: per-pixel averages over 1,000
    # samples agree within 4 standard errors (Bernoulli sd <= 0.5).
    # A graph function: eagerly, 1,000 per-row draws cost ~20 s.
    sample = tf.function(model.sample_from_seeds)
    seeds = per_row_seeds(1000, 9)
    many_means = sample(seeds).numpy().mean(0)
    many_draws = sample(seeds, draw=True).numpy().mean(0)
    assert np.abs(many_means - many_draws).max() < 4 * 0.5 / np.sqrt(1000)
    # Row i is batch-invariant.
    alone = model.sample_from_seeds([[2, 3]], draw=True).numpy()
    np.testing.assert_array_equal(alone[0], draws[3])
    served = model.serving_endpoints()["serving_default"][0](tf.constant([[2, 3]], tf.int32))
    np.testing.assert_array_equal(served["draws"][0], draws[3])
    np.testing.assert_allclose(served["images"][0], means[3], atol=1e-6)


def test_non_vae_samples_ignore_draw():
    model = contract.build("pixelcnn")
    assert not model.samples_are_means
    np.testing.assert_array_equal(model.sample(2, seed=1, draw=True), model.sample(2, seed=1))
