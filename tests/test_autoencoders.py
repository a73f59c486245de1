"""Autoencoder family: penalties, denoising, sparsity, the PCA connection, uses."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

import zoo
from tests import contract
from training import datasets
from training.likelihood import evaluate
from training.probe import linear_probe
from training.metrics import linear_probe_accuracy as probe_accuracy
from zoo.autoencoders.classifier import build_classifier, train_classifier
from zoo.autoencoders.denoising_autoencoder import NOISES

FAMILY = ["autoencoder", "sparse_autoencoder", "denoising_autoencoder",
          "contractive_autoencoder", "linear_autoencoder"]

# Tiny configs for the shared contract (tests/contract.py).
TINY_CONFIGS = {
    "autoencoder": dict(latent_dim=4, hidden_units=(32,)),
    "sparse_autoencoder": dict(latent_dim=4, hidden_units=(32,), sparsity_weight=0.1,
                               code_activation="sigmoid"),
    "denoising_autoencoder": dict(latent_dim=4, hidden_units=(32,)),
    "contractive_autoencoder": dict(latent_dim=4),
    "linear_autoencoder": dict(latent_dim=4),
}


def digits(split):
    images, labels = datasets.load_arrays("digits", split)
    return images.astype(np.float32) / 255.0, labels.astype(np.int32)


def fit(model, images, epochs, batch_size=64, learning_rate=3e-3):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    ds = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
    return model.fit(ds, epochs=epochs, verbose=0)


@pytest.fixture(scope="module")
def trained_ae():
    """A small dense autoencoder trained briefly on digits."""
    keras.utils.set_random_seed(0)
    model = zoo.get("autoencoder", latent_dim=8, hidden_units=(64,), seed=0)
    x_test, _ = digits("test")
    before = model.reconstruct(x_test).numpy()
    fit(model, digits("train")[0], epochs=15)
    return model, float(np.mean((before - x_test) ** 2))


# ------------------------------------------------------------- construction
def test_bad_config_is_rejected_clearly():
    with pytest.raises(zoo.ConfigError, match="undercomplete.*64"):
        zoo.get("autoencoder", latent_dim=64)
    with pytest.raises(zoo.ConfigError, match="undercomplete"):
        zoo.get("linear_autoencoder", image_shape=(4, 4, 1), latent_dim=20)
    for level in (0, 1, 1.5, -0.1, "a lot"):
        with pytest.raises(zoo.ConfigError, match="noise_level"):
            zoo.get("denoising_autoencoder", noise_level=level)
    with pytest.raises(zoo.ConfigError, match="noise.*gaussian"):
        zoo.get("denoising_autoencoder", noise="poisson")
    for rho in (0, 1, -0.5, 2):
        with pytest.raises(zoo.ConfigError, match="rho"):
            zoo.get("sparse_autoencoder", rho=rho)
    with pytest.raises(zoo.ConfigError, match="sigmoid"):
        zoo.get("sparse_autoencoder", sparsity_weight=1.0, code_activation="relu")
    with pytest.raises(zoo.ConfigError, match="l1"):
        zoo.get("sparse_autoencoder", l1=-1)
    with pytest.raises(zoo.ConfigError, match="contraction_weight"):
        zoo.get("contractive_autoencoder", contraction_weight=float("nan"))
    with pytest.raises(zoo.ConfigError, match="architecture"):
        zoo.get("autoencoder", architecture="rnn")
    with pytest.raises(zoo.ConfigError, match="reconstruction_loss"):
        zoo.get("autoencoder", reconstruction_loss="l1")
    with pytest.raises(zoo.ConfigError, match="does not take 'architecture'"):
        zoo.get("linear_autoencoder", architecture="conv")
    # Regularized models may be overcomplete.
    assert zoo.get("sparse_autoencoder", latent_dim=100, hidden_units=(8,)).latent_dim == 100


def test_no_prior_means_no_sampling():
    model = contract.build("autoencoder")
    assert "sample" not in model.capabilities
    with pytest.raises(NotImplementedError, match="no sample.*reconstruct"):
        model.sample(2, seed=0)
    endpoints = model.serving_endpoints()
    assert {"serving_default", "encode", "decode", "reconstruct"} <= set(endpoints)
    assert model.hub_endpoint == "encode"
    x = contract.real_images(model, 3)
    fn, specs = endpoints["serving_default"]
    assert [s.name for s in specs] == ["images"]
    np.testing.assert_allclose(fn(x)["images"], model.reconstruct(x), atol=1e-6)
    code = endpoints["encode"][0](x)["code"]
    assert code.shape == (3, model.latent_dim)


@pytest.mark.parametrize("name", ["autoencoder", "contractive_autoencoder"])
def test_conv_variant_round_trips(name, tmp_path):
    model = contract.build(name, architecture="conv", latent_dim=4, filters=(4, 8),
                           dense_units=16)
    fit(model, contract.real_images(model, 32), epochs=1)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = contract.real_images(model, 4)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    assert loaded.get_config() == model.get_config()


def test_exported_encoder_is_a_hub_feature_extractor(tmp_path):
    import tensorflow_hub as hub
    from export import export_model

    model = contract.build("denoising_autoencoder")
    path = str(tmp_path / "export")
    export_model(model, path)
    x = contract.real_images(model, 3)
    features = hub.KerasLayer(path, output_key="code")(tf.constant(x))
    np.testing.assert_allclose(features, model.encode(x), atol=1e-6)
    denoise = keras.layers.TFSMLayer(path, call_endpoint="denoise")(x)["images"]
    np.testing.assert_allclose(denoise, model.denoise(x), atol=1e-6)


# -------------------------------------------------------------- contractive
def finite_difference_jacobian_norm(encoder, x, eps=1e-3):
    """||J||_F^2 per image from central differences of the encoder, [N]."""
    n, d = len(x), int(np.prod(x.shape[1:]))
    flat = x.reshape(n, d).astype(np.float64)
    steps = np.eye(d) * eps
    plus = (flat[:, None, :] + steps[None]).reshape((n * d,) + x.shape[1:])
    minus = (flat[:, None, :] - steps[None]).reshape((n * d,) + x.shape[1:])
    diff = (encoder(plus.astype(np.float32)).numpy().astype(np.float64)
            - encoder(minus.astype(np.float32)).numpy()) / (2 * eps)
    return np.sum(diff.reshape(n, d, -1) ** 2, axis=(1, 2))


@pytest.mark.parametrize("overrides", [
    {},  # single-layer sigmoid encoder: the closed form
    {"architecture": "conv", "filters": (4, 8), "dense_units": 16,
     "code_activation": "tanh"},  # batch Jacobian
], ids=["closed_form", "batch_jacobian"])
def test_contractive_penalty_is_frobenius_norm_of_jacobian(overrides):
    keras.utils.set_random_seed(0)
    model = contract.build("contractive_autoencoder", latent_dim=6, **overrides)
    assert model.closed_form == (not overrides)
    # Zero-initialized biases put ReLU units on blank patches exactly at their
    # kink, where finite differences see half a slope: move to a generic point.
    rng = np.random.default_rng(0)
    for layer in model.encoder.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype(np.float32))
    x = contract.real_images(model, 4)
    exact = model.jacobian_norm(x).numpy()
    numeric = finite_difference_jacobian_norm(model.encoder, x)
    assert np.all(exact > 1e-3), exact
    np.testing.assert_allclose(exact, numeric, rtol=2e-2)
    # The trained penalty is lambda times its batch mean.
    np.testing.assert_allclose(
        model.batch_losses(tf.constant(x), None, training=False)["penalty"].numpy().mean(),
        model.contraction_weight * exact.mean(), rtol=1e-5)


def test_contraction_weight_shrinks_the_jacobian():
    x, _ = digits("train")
    norms = {}
    for weight in (0.0, 3.0):
        keras.utils.set_random_seed(0)
        model = zoo.get("contractive_autoencoder", latent_dim=8,
                        contraction_weight=weight, seed=0)
        fit(model, x, epochs=8)
        norms[weight] = float(model.jacobian_norm(x[:256]).numpy().mean())
    # Measured: 0.0137 without the penalty, 0.0078 with it.
    assert norms[3.0] < 0.75 * norms[0.0], norms


# ---------------------------------------------------------------- denoising
@pytest.mark.parametrize("noise", NOISES)
def test_corruption_is_seeded_and_at_the_requested_level(noise):
    model = contract.build("denoising_autoencoder", noise=noise, noise_level=0.25)
    x, _ = digits("test")
    a, b = model.corrupt(x, seed=1).numpy(), model.corrupt(x, seed=1).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.corrupt(x, seed=2).numpy())
    assert a.min() >= 0 and a.max() <= 1
    if noise == "gaussian":
        # Clipping shrinks the noise where pixels sit at 0 or 1.
        interior = (x > 0.3) & (x < 0.7)
        assert abs(np.std((a - x)[interior]) - 0.25) < 0.03
    elif noise == "masking":
        assert np.all(a[a != x] == 0)
        assert abs(np.mean(a[x > 0] == 0) - 0.25) < 0.02
    else:
        assert set(np.unique(a[a != x])) <= {0.0, 1.0}
        # A hit on a pixel already 0 (or 1) looks unchanged: count 0<x<1 pixels.
        mid = (x > 0) & (x < 1)
        assert abs(np.mean(a[mid] != x[mid]) - 0.25) < 0.02


def test_training_corruption_is_reproducible_from_the_model_seed():
    x = contract.real_images(contract.build("denoising_autoencoder"), 64)
    weights = {}
    for run, seed in (("a", 5), ("b", 5), ("c", 6)):
        keras.utils.set_random_seed(0)  # same initial weights in every run
        model = zoo.get("denoising_autoencoder", latent_dim=4, hidden_units=(16,),
                        noise="salt_and_pepper", seed=seed)
        fit(model, x, epochs=2, batch_size=16)
        weights[run] = np.concatenate([np.ravel(w) for w in model.get_weights()])
    np.testing.assert_array_equal(weights["a"], weights["b"])
    assert not np.allclose(weights["a"], weights["c"])


@pytest.mark.slow
def test_denoising_restores_corrupted_digits():
    x_train, _ = digits("train")
    x_test, _ = digits("test")
    keras.utils.set_random_seed(0)
    model = zoo.get("denoising_autoencoder", latent_dim=32, hidden_units=(128,),
                    noise="salt_and_pepper", noise_level=0.2, seed=0)
    fit(model, x_train, epochs=25)
    noisy = model.corrupt(x_test, seed=123).numpy()
    restored = model.denoise(noisy).numpy()
    noisy_mse = np.mean((noisy - x_test) ** 2)
    restored_mse = np.mean((restored - x_test) ** 2)
    assert restored_mse < 0.5 * noisy_mse, (restored_mse, noisy_mse)
    grids = model.figures(x_test, seed=0)
    images, cols = grids["denoising"]
    assert cols == 15 and images.shape == (90, 8, 8, 1)


# ------------------------------------------------------------------- sparse
@pytest.mark.parametrize("rho", [0.05, 0.8])
def test_sparse_mean_activation_moves_toward_rho(rho):
    x, _ = digits("train")
    keras.utils.set_random_seed(0)
    model = zoo.get("sparse_autoencoder", latent_dim=16, hidden_units=(64,),
                    l1=0.0, sparsity_weight=3.0, rho=rho,
                    code_activation="sigmoid", seed=0)
    before = float(model.encode(x).numpy().mean())
    fit(model, x, epochs=6)
    after = float(model.encode(x).numpy().mean())
    assert abs(after - rho) < 0.3 * abs(before - rho), (before, after, rho)


# ---------------------------------------------------------------- linear/PCA
@pytest.mark.slow
def test_linear_autoencoder_spans_the_pca_subspace():
    x, _ = digits("train")
    flat = x.reshape(len(x), -1)
    k = 4
    pca = PCA(k).fit(flat)
    keras.utils.set_random_seed(0)
    model = zoo.get("linear_autoencoder", latent_dim=k, seed=0)
    untrained = np.degrees(subspace_angles(model.decoder_basis.numpy(),
                                           pca.components_.T)).max()
    # Full-batch Adam with a cosine-decayed step: 3000 steps reach the
    # minimum to ~1e-3 degrees on digits (measured), far inside the bound.
    steps = 3000
    model.compile(optimizer=keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(2e-2, steps)), steps_per_execution=100)
    model.fit(tf.data.Dataset.from_tensors(x).repeat(), epochs=1,
              steps_per_epoch=steps, verbose=0)
    angles = np.degrees(subspace_angles(model.decoder_basis.numpy(), pca.components_.T))
    assert untrained > 30, untrained
    assert angles.max() < 1.0, angles  # the stated bound: 1 degree
    # Same subspace, same error as PCA's projection (before clipping).
    pca_mse = np.mean((pca.inverse_transform(pca.transform(flat)) - flat) ** 2)
    ae_mse = np.mean((model.decoder(model.encoder(x)).numpy().reshape(flat.shape)
                      - flat) ** 2)
    assert ae_mse < 1.001 * pca_mse, (ae_mse, pca_mse)


# --------------------------------------------------------------------- uses
def test_training_lowers_reconstruction_error(trained_ae):
    model, before = trained_ae
    x_test, _ = digits("test")
    ds = tf.data.Dataset.from_tensor_slices(x_test).batch(128)
    after = evaluate(model, ds)["test_reconstruction_mse"]
    assert after < 0.5 * before, (before, after)


def test_linear_probe_of_codes(trained_ae):
    model, _ = trained_ae
    x_train, y_train = digits("train")
    x_test, y_test = digits("test")
    accuracy = linear_probe(model, x_train, y_train, x_test, y_test)
    assert accuracy > 0.8, accuracy
    # Labels the codes cannot predict: the probe falls to chance.
    shuffled = np.random.default_rng(0).permutation(y_train)
    assert linear_probe(model, x_train, shuffled, x_test, y_test) < 0.3
    with pytest.raises(ValueError, match="encoder"):
        linear_probe(type("NoEncoder", (), {"capabilities": (),
                                            "registered_name": "x"})(),
                     x_train, y_train, x_test, y_test)
    assert probe_accuracy(x_train.reshape(len(x_train), -1), y_train,
                          x_test.reshape(len(x_test), -1), y_test) > 0.9  # raw pixels


@pytest.mark.parametrize("fine_tune", [False, True])
def test_classifier_from_encoder(trained_ae, fine_tune):
    model, _ = trained_ae
    x_train, y_train = digits("train")
    x_test, y_test = digits("test")
    original = [w.copy() for w in model.encoder.get_weights()]
    classifier, history = train_classifier(model, x_train, y_train, fine_tune=fine_tune,
                                           epochs=5, learning_rate=1e-2)
    copy = classifier.get_layer(model.encoder.name)
    moved = [not np.allclose(a, b) for a, b in zip(original, copy.get_weights())]
    assert all(moved) if fine_tune else not any(moved), moved
    # The autoencoder's own encoder never changes.
    for a, b in zip(original, model.encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    accuracy = np.mean(np.argmax(classifier.predict(x_test, verbose=0), -1) == y_test)
    assert accuracy > 0.75, accuracy
    assert history.history["accuracy"][-1] > history.history["accuracy"][0]


def test_classifier_rejects_bad_input(trained_ae):
    model, _ = trained_ae
    with pytest.raises(zoo.ConfigError, match="num_classes"):
        build_classifier(model, 1)
    with pytest.raises(zoo.InputError, match="labels"):
        train_classifier(model, np.zeros((4, 8, 8, 1), np.float32), np.zeros(3, np.int32))


def test_trainer_writes_the_family_figures(tmp_path):
    from PIL import Image

    from training.figures import write_model_figures

    model = contract.build("denoising_autoencoder")
    x = contract.real_images(model, 32)
    written = write_model_figures(model, str(tmp_path), x)
    assert sorted(os.path.basename(p) for p in written) == [
        "denoising.png", "reconstructions.png"]
    # 30 (clean, corrupted, restored) triples, 15 tiles a row: 6 rows of
    # 8x8 tiles with 1-pixel gaps, upscaled 8x.
    assert Image.open(tmp_path / "denoising.png").size == ((15 * 9 + 1) * 8, (6 * 9 + 1) * 8)
    assert write_model_figures(contract.build("vae"), str(tmp_path / "vae"), x) == []
