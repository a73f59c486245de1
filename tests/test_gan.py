"""Adversarial family: player separation, k steps, clipping, gradient penalty,
EMA, resume, mode coverage, conditional generation, bad input."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests import contract
from training import datasets
from zoo import latent
from zoo.errors import ConfigError, InputError
from zoo.losses import gradient_penalty


def _weights(variables):
    return [np.array(v) for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, np.array(v)) for b, v in zip(before, variables)]


def _real_batch(model, n=16):
    batch = next(iter(contract.batches(model, n=n, batch_size=n)))
    return model._unpack(batch)


@pytest.mark.parametrize("name", ["dcgan", "wgan_gp", "cgan", "aae"])
def test_each_update_moves_only_its_player(name):
    model = contract.build(name)
    model.compile()
    real, labels = _real_batch(model)
    # AAE's "generator" player is encoder + decoder.
    g_vars, d_vars = model.g_variables, model.d_variables
    assert not {id(v) for v in g_vars} & {id(v) for v in d_vars}
    g0, d0 = _weights(g_vars), _weights(d_vars)
    model.d_step(real, labels)
    assert not any(_changed(g0, g_vars)), "a discriminator update moved G"
    assert all(_changed(d0, d_vars)), "the discriminator update left D weights unchanged"
    g0, d0 = _weights(g_vars), _weights(d_vars)
    model.g_step(real, labels)
    assert not any(_changed(d0, d_vars)), "a generator update moved D"
    assert all(_changed(g0, g_vars)), "the generator update left G weights unchanged"


@pytest.mark.parametrize("name,kwarg,k", [("gan", "k", 3), ("wgan_gp", "n_critic", 2),
                                          ("gan", "k", 1)])
def test_k_discriminator_updates_per_generator_update(name, kwarg, k):
    model = contract.build(name, **{kwarg: k})
    model.compile()
    model.fit(contract.batches(model, n=64, batch_size=16), epochs=1, verbose=0)
    assert int(model.g_optimizer.iterations) == 4
    assert int(model.d_optimizer.iterations) == 4 * k
    assert model.optimizer is model.g_optimizer


def test_wgan_critic_weights_stay_in_the_clip_box_after_every_step():
    model = contract.build("wgan", clip_value=0.02)
    # A learning rate this large throws unclipped weights far out of the box.
    model.compile(d_optimizer=keras.optimizers.RMSprop(0.05),
                  g_optimizer=keras.optimizers.RMSprop(0.05))
    real, _ = _real_batch(model)

    def outside():
        return max(float(np.max(np.abs(np.array(w))))
                   for w in model.discriminator.trainable_variables)

    assert outside() <= 0.02
    for _ in range(3):
        model.d_step(real)
        assert outside() <= 0.02 + 1e-7

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert outside() <= 0.02 + 1e-7

    model.fit(contract.batches(model), epochs=1, verbose=0, callbacks=[Check()])
    # The same update without clipping leaves the box: the check can fail.
    model._after_d_step = lambda: None
    model.d_step(real)
    assert outside() > 0.02


def test_gradient_penalty_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(3, 4)).astype(np.float32)
    b1 = rng.normal(size=4).astype(np.float32)
    w2 = rng.normal(size=(4, 1)).astype(np.float32)
    critic = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                               keras.layers.Dense(1)])
    critic.set_weights([w1, b1, w2, np.zeros(1, np.float32)])
    real = rng.normal(size=(5, 3)).astype(np.float32)
    fake = rng.normal(size=(5, 3)).astype(np.float32)
    eps = rng.uniform(size=5).astype(np.float32)
    got = float(gradient_penalty(critic, real, fake, eps))
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
    # d/dx [tanh(x W1 + b1) W2] = W1 diag(1 - tanh^2) W2, per row.
    slope = 1 - np.tanh(x_hat @ w1 + b1) ** 2
    grads = (slope * w2[:, 0]) @ w1.T
    expected = np.mean((np.linalg.norm(grads, axis=1) - 1) ** 2)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_wgan_gp_critic_loss_is_wasserstein_estimate_plus_lambda_penalty():
    model = contract.build("wgan_gp", gp_weight=10.0)
    real, _ = _real_batch(model)
    z = model._random_latents(16)
    loss, logs = model._discriminator_loss(real, None, z, training=True)
    np.testing.assert_allclose(
        float(loss), float(logs["d_fake"] - logs["d_real"] + 10.0 * logs["gp"]), rtol=1e-5)
    assert float(logs["gp"]) > 0


def test_minimax_and_non_saturating_generator_losses():
    fake_logits = tf.constant([[-3.0], [0.5]])
    p = tf.sigmoid(fake_logits)
    for loss, expected in [("minimax", tf.reduce_mean(tf.math.log(1 - p))),
                           ("non_saturating", -tf.reduce_mean(tf.math.log(p)))]:
        model = contract.build("gan", generator_loss=loss)
        model._d = lambda x, labels=None, training=False: fake_logits
        got, _ = model._generator_loss(None, None, tf.zeros([2, model.latent_dim]), False)
        np.testing.assert_allclose(float(got), float(expected), rtol=1e-5)


def test_ema_generator_tracks_the_generator_and_is_used_for_sampling():
    model = contract.build("dcgan", ema_decay=0.5)
    model.compile()
    real, _ = _real_batch(model)
    ema0, g0 = _weights(model.ema_generator.weights), _weights(model.generator.weights)
    for a, b in zip(ema0, g0):
        np.testing.assert_array_equal(a, b)
    model.d_step(real)
    model.g_step(real)
    for e0, w, e in zip(ema0, model.generator.weights, model.ema_generator.weights):
        np.testing.assert_allclose(np.array(e), 0.5 * e0 + 0.5 * np.array(w), rtol=1e-5, atol=1e-7)
    assert model.ema_generator.trainable_weights == []
    z = np.random.default_rng(0).normal(size=(3, model.latent_dim)).astype(np.float32)
    from_ema = 0.5 * (model.ema_generator(z, training=False) + 1)
    np.testing.assert_allclose(model.generate(z), from_ema, atol=1e-6)
    assert not np.allclose(model.generate(z), 0.5 * (model.generator(z) + 1), atol=1e-4)


def test_backup_and_restore_restores_both_optimizers(tmp_path):
    backup = str(tmp_path / "backup")
    keras.utils.set_random_seed(0)
    model = contract.build("wgan_gp")
    model.compile()
    model.fit(contract.batches(model), epochs=1, verbose=0,
              callbacks=[keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    saved = {name: (int(opt.iterations), _weights(opt.variables))
             for name, opt in (("d", model.d_optimizer), ("g", model.g_optimizer))}
    assert saved["d"][0] == 2 * saved["g"][0] > 0
    weights = _weights(model.weights)

    # A fresh process after a kill: new model and optimizers, same backup dir.
    restored = {}

    class Capture(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            m = self.model
            restored.update(d=(int(m.d_optimizer.iterations), _weights(m.d_optimizer.variables)),
                            g=(int(m.g_optimizer.iterations), _weights(m.g_optimizer.variables)),
                            weights=_weights(m.weights))
            m.stop_training = True

    keras.utils.set_random_seed(1)
    fresh = contract.build("wgan_gp", seed=1)
    fresh.compile()
    fresh.fit(contract.batches(fresh), epochs=2, verbose=0,
              callbacks=[keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False),
                         Capture()])
    for name in ("d", "g"):
        assert restored[name][0] == saved[name][0], name
        assert len(restored[name][1]) == len(saved[name][1]) > 2
        for a, b in zip(restored[name][1], saved[name][1]):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(restored["weights"], weights):
        np.testing.assert_array_equal(a, b)


def test_keras_file_restores_optimizers_without_warnings(tmp_path):
    model = contract.fit_step("gan")
    path = str(tmp_path / "gan.keras")
    model.save(path)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = keras.saving.load_model(path)
    for name in ("d_optimizer", "g_optimizer"):
        a, b = getattr(model, name), getattr(loaded, name)
        assert type(a) is type(b) and int(a.iterations) == int(b.iterations) > 0
        for x, y in zip(a.variables, b.variables):
            np.testing.assert_array_equal(np.array(x), np.array(y))
    # Training continues from the loaded state.
    loaded.fit(contract.batches(loaded), epochs=1, verbose=0)
    assert int(loaded.g_optimizer.iterations) == 2 * int(model.g_optimizer.iterations)


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("name,kwargs", [
    ("gan", dict(k=0)), ("gan", dict(k=-1)), ("gan", dict(k=True)), ("gan", dict(k=1.5)),
    ("wgan", dict(n_critic=0)), ("wgan_gp", dict(n_critic=-2)),
    ("wgan", dict(clip_value=0)), ("wgan_gp", dict(gp_weight=-1)),
    ("dcgan", dict(ema_decay=1.0)), ("gan", dict(generator_loss="hinge")),
    ("lsgan", dict(architecture="resnet")), ("cgan", dict(num_classes=1)),
    ("infogan", dict(num_categories=1)), ("aae", dict(prior="laplace")),
])
def test_bad_config_is_a_clear_error(name, kwargs):
    key = next(iter(kwargs))
    with pytest.raises(ConfigError, match=key if key != "k" else "k must"):
        contract.build(name, **kwargs)


def test_compile_rejects_a_single_optimizer():
    model = contract.build("gan")
    with pytest.raises(ConfigError, match="d_optimizer and g_optimizer"):
        model.compile(optimizer="adam")


@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_conditional_models_need_labels(name):
    model = contract.build(name)
    model.compile()
    unlabelled = datasets.load("digits", "train", batch_size=16, mode="unit", take=32,
                               shuffle=False)
    with pytest.raises(InputError, match="class-conditional.*labels"):
        model.fit(unlabelled, epochs=1, verbose=0)
    with pytest.raises(InputError, match="class-conditional"):
        model.sample_from_seeds([[0, 0]])
    with pytest.raises(InputError, match=r"labels must lie in \[0, 10\)"):
        model.sample(2, seed=0, labels=[3, 10])
    with pytest.raises(InputError, match=r"labels must lie in \[0, 10\)"):
        model.generate(np.zeros((1, model.latent_dim), np.float32), labels=[-1])
    with pytest.raises(InputError, match="labels"):
        model.sample(2, seed=0, labels=[0.5, 1.0])


def test_unconditional_models_refuse_labels():
    model = contract.build("dcgan")
    with pytest.raises(InputError, match="not class-conditional"):
        model.sample(2, seed=0, labels=[0, 1])


def test_serving_request_with_out_of_range_label_fails(tmp_path):
    from export import export_model

    model = contract.build("cgan")
    path = str(tmp_path / "cgan")
    export_model(model, path)
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures["serving_default"]
    ok = fn(seed=tf.constant([[0, 0], [0, 1]]), label=tf.constant([0, 9]))["images"]
    assert ok.shape == (2, 8, 8, 1)
    for bad in ([0, 10], [-1, 0]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be"):
            fn(seed=tf.constant([[0, 0], [0, 1]]), label=tf.constant(bad))
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be"):
        loaded.signatures["generate"](z=tf.zeros([1, model.latent_dim]), label=tf.constant([12]))


def test_discriminate_takes_unit_images():
    model = contract.build("wgan_gp")
    images = contract.real_images(model, 4)
    out = model.discriminate(images)["critic"]
    expected = model.discriminator(2 * images - 1)[:, 0]
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        model.discriminate(2 * images - 1.5)


# ------------------------------------------------------------ latent tools
def test_infogan_traversal_and_latent_layout():
    model = contract.build("infogan")
    assert model.latent_dim == 4 + 3 + 2
    grid = model.traversal(continuous_index=1, values=[-1.0, 0.0, 1.0], seed=2)
    assert grid.shape == (9, 8, 8, 1)
    noise = np.repeat(tf.random.stateless_normal([1, 4], seed=[2, 0]).numpy(), 3, 0)
    z = model.codes_to_latent(noise, [0, 1, 2],
                              [[0, -1], [0, 0], [0, 1]])
    np.testing.assert_allclose(np.asarray(grid)[[0, 4, 8]], model.generate(z), atol=1e-6)
    with pytest.raises(InputError, match="categories"):
        model.codes_to_latent(np.zeros((1, 4), np.float32), [3])
    # Sampled codes: one-hot category, continuous codes in [-1, 1].
    codes = model.latents_from_seeds(tf.constant([[0, i] for i in range(50)], tf.int32))
    _, cat, cont = model._split(codes)
    np.testing.assert_array_equal(np.sum(cat, -1), 1)
    assert np.all(np.abs(cont) <= 1) and len(np.unique(np.argmax(cat, -1))) == 3


def test_vector_arithmetic_and_class_grid():
    z = np.eye(3, dtype=np.float32)
    np.testing.assert_allclose(latent.vector_arithmetic(z[:2], z[1:2], [z[2], z[2]]),
                               [0.5, -0.5, 1.0])
    with pytest.raises(InputError):
        latent.vector_arithmetic(z, z[:, :2], z)
    model = contract.build("cgan")
    grid = latent.class_grid(model, num_columns=3, seed=5)
    assert grid.shape == (30, 8, 8, 1)
    # Same column, same noise: row c, column j equals a request for label c with seed [5, j].
    np.testing.assert_allclose(grid[7 * 3 + 2], model.sample_from_seeds([[5, 2]], [7])[0],
                               atol=1e-6)
    with pytest.raises(InputError, match="class-conditional"):
        latent.class_grid(contract.build("dcgan"))


def test_aae_codes_and_prior():
    model = contract.build("aae")
    images = contract.real_images(model, 4)
    z = model.encode(images)
    assert z.shape == (4, 2)
    np.testing.assert_allclose(model.reconstruct(images), model.decode(z), atol=1e-6)
    out = model.discriminate(np.asarray(z))
    assert out["logits"].shape == (4,)
    # The mixture prior: draws concentrate near 10 means on a radius-3 circle.
    draws = model.prior.sample(2000, seed=[0, 1]).numpy()
    radii = np.linalg.norm(draws, axis=1)
    assert abs(np.median(radii) - 3.0) < 0.3


# -------------------------------------------------------- training checks
RING_RADIUS, RING_STD, RING_SCALE = 2.0, 0.1, 2.5


def _ring(n, seed):
    """8 Gaussians on a circle, scaled into [0, 1] as a (1, 1, 2) 'image'."""
    rng = np.random.default_rng(seed)
    angles = rng.integers(0, 8, n) * np.pi / 4
    points = RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], 1)
    points = points + RING_STD * rng.normal(size=(n, 2))
    return ((points / RING_SCALE + 1) / 2).astype(np.float32).reshape(n, 1, 1, 2)


def mode_coverage(points):
    """(modes holding >= 1% of samples within 3 std, share within 3 std of a mode)."""
    angles = np.arange(8) * np.pi / 4
    centers = RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], 1)
    dist = np.linalg.norm(points[:, None] - centers[None], axis=-1)
    near = dist.min(1) < 3 * RING_STD
    counts = np.bincount(dist.argmin(1)[near], minlength=8)
    return int(np.sum(counts >= 0.01 * len(points))), float(near.mean())


def test_mode_coverage_check_can_fail():
    collapsed = np.zeros((500, 2)) + [RING_RADIUS, 0]
    assert mode_coverage(collapsed) == (1, 1.0)
    spread = np.random.default_rng(0).normal(size=(2000, 2)) * 2
    modes, share = mode_coverage(spread)
    assert share < 0.25


@pytest.mark.slow
def test_wgan_gp_covers_the_modes_of_a_ring_of_gaussians():
    """The real `wgan_gp` train_step (n_critic=5, lambda=10, Adam(beta_1=0,
    beta_2=0.9), lr 1e-3) on 2-D points as (1, 1, 2) images: after 2000
    generator steps of batch 64, >= 6 of 8 modes hold >= 1% of 2000 samples
    within 3 std, and >= 20% of all samples lie within 3 std of a mode.

    Seed-sensitive: with this short budget, other seeds sometimes collapse
    to fewer modes (see the family's notes); the seed is fixed so the check
    is deterministic, and `test_mode_coverage_check_can_fail` shows the
    metric rejects collapsed or diffuse samples.
    """
    keras.utils.set_random_seed(1)
    model = zoo.get("wgan_gp", image_shape=(1, 1, 2), latent_dim=2, architecture="mlp",
                    hidden_units=(64, 64, 64), seed=1)
    model.compile(**model.make_optimizers(1e-3), jit_compile=True)
    data = tf.data.Dataset.from_tensor_slices(_ring(2000 * 64, 2)).batch(64)
    model.fit(data, epochs=1, verbose=0)
    assert int(model.d_optimizer.iterations) == 5 * int(model.g_optimizer.iterations) == 10000
    points = (2 * model.sample(2000, seed=0).numpy().reshape(-1, 2) - 1) * RING_SCALE
    modes, share = mode_coverage(points)
    assert modes >= 6 and share >= 0.2, (modes, share)


@pytest.mark.slow
@pytest.mark.parametrize("name,epochs,learning_rate", [("cgan", 60, 1e-3), ("acgan", 25, None)])
def test_conditional_samples_show_the_requested_digit(name, epochs, learning_rate):
    """A logistic-regression digit classifier (about 97% on real digits)
    reads the requested label off >= 50% of generated samples (chance: 10%).
    The MLP cGAN's discriminator starts using the label late (accuracy jumps
    from ~15% to >90% between epochs 20 and 40 at lr 1e-3)."""
    from sklearn.linear_model import LogisticRegression

    images, labels = datasets.load_arrays("digits", "train")
    x = images.reshape(len(images), -1) / 255.0
    classifier = LogisticRegression(max_iter=500).fit(x, labels)
    keras.utils.set_random_seed(0)
    model = zoo.get(name, image_shape=(8, 8, 1), latent_dim=16, seed=0,
                    **({"hidden_units": (128, 128)} if name == "cgan" else
                       {"filters": (32, 64)}))
    model.compile(**model.make_optimizers(learning_rate))
    data = datasets.load("digits", "train", batch_size=64, mode=model.preprocessing(True),
                         labels=True, seed=0)
    model.fit(data, epochs=epochs, verbose=0)
    wanted = np.arange(300) % 10
    samples = model.sample(300, seed=1, labels=wanted).numpy().reshape(300, -1)
    accuracy = float(np.mean(classifier.predict(samples) == wanted))
    # Chance is 0.1.
    assert accuracy >= 0.5, accuracy


def test_gan_bench_runs_in_a_tiny_configuration(tmp_path):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "bench/gan_bench.py", "--dataset", "digits", "--steps", "3",
         "--batch-size", "16", "--models", "dcgan", "--modes", "nojit",
         "--out", str(out)],
        cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "dcgan_nojit.png").is_file() and (out / "results.json").is_file()


def test_training_cli_trains_and_exports_a_conditional_gan(tmp_path):
    import json

    from training import train as train_cli

    out = str(tmp_path / "cgan")
    assert train_cli.main(["cgan", "--epochs", "2", "--out", out, "--verbose", "0",
                           "--set", "latent_dim=4", "--set", "hidden_units=(16,)"]) == 0
    for path in ("model.keras", "samples/epoch_002.png", "export/cgan/1/saved_model.pb"):
        assert os.path.isfile(os.path.join(out, path)), path
    history = json.load(open(os.path.join(out, "metrics.json")))["history"]
    assert {"d_loss", "g_loss", "val_d_loss", "d_real", "d_fake"} <= set(history)
    assert not os.path.exists(os.path.join(out, "backup"))
