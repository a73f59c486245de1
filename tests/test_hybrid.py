"""Hybrids (issue #15): VQ-VAE's quantizer and two stages, PixelVAE's causal
decoder and bounds, VAE-GAN's three optimizers, BiGAN's inversion."""

import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tests import contract
from training import train as train_cli
from zoo.errors import InputError
from zoo.gan.base import to_symmetric
from zoo.layers.quantize import VectorQuantizer, ema_codebook, perplexity

TINY_CONFIGS = {
    # The EMA codebook here (global counts under tf.distribute); the tests of
    # the codebook loss build with ema_decay=None.
    "vq_vae": {"num_codes": 8, "code_dim": 4, "filters": (8,), "prior_filters": 8,
               "prior_layers": 2, "ema_decay": 0.99},
    "pixel_vae": {"latent_dim": 4, "filters": (8,), "dense_units": 16, "pixel_filters": 8,
                  "pixel_layers": 1},
    "vae_gan": {"latent_dim": 4, "filters": (8, 16), "hidden_units": (16,)},
    "bigan": {"latent_dim": 4, "hidden_units": (16, 16)},
}


def _weights(variables):
    return [np.array(v) for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, np.array(v)) for b, v in zip(before, variables)]


# ------------------------------------------------------------------ VQ-VAE
def _quantizer(codebook, **kwargs):
    layer = VectorQuantizer(len(codebook), len(codebook[0]), **kwargs)
    layer.build()
    layer.codebook.assign(np.asarray(codebook, np.float32))
    if kwargs.get("ema_decay") is not None:
        layer.sums.assign(np.asarray(codebook, np.float32))
    return layer


def test_straight_through_gradient_is_the_identity_on_the_decoder_side():
    model = contract.build("vq_vae", ema_decay=None)
    x = contract.real_images(model, 4)
    z_e = model.encoder(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z_e)
        q = model.quantizer(z_e)
        e = tf.gather(model.quantizer.codebook, q["indices"])
        tape.watch(e)
        through_z_q = tf.reduce_sum(tf.square(model.decoder(q["z_q"]) - x))
        through_e = tf.reduce_sum(tf.square(model.decoder(e) - x))
    np.testing.assert_allclose(q["z_q"], e, atol=1e-6)  # forward: the codes
    g_z_e = tape.gradient(through_z_q, z_e)
    assert float(tf.reduce_max(tf.abs(g_z_e))) > 0
    np.testing.assert_allclose(g_z_e, tape.gradient(through_e, e), rtol=1e-5, atol=1e-7)


def test_the_codebook_receives_only_the_codebook_loss():
    model = contract.build("vq_vae", ema_decay=None)
    assert model.quantizer.codebook.trainable
    x = contract.real_images(model, 4)
    codebook = model.quantizer.codebook
    with tf.GradientTape(persistent=True) as tape:
        q = model.quantizer(model.encoder(x))
        reconstruction = tf.reduce_sum(tf.square(model.decoder(q["z_q"]) - x))
        commitment = tf.reduce_sum(q["commitment"])
        codebook_loss = tf.reduce_sum(q["codebook"])
        total = reconstruction + codebook_loss + model.beta * commitment
    assert tape.gradient(reconstruction, codebook) is None
    assert tape.gradient(commitment, codebook) is None
    g = tape.gradient(codebook_loss, codebook)
    assert float(tf.reduce_max(tf.abs(tf.convert_to_tensor(g)))) > 0
    np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(total, codebook)),
                               tf.convert_to_tensor(g), rtol=1e-6)
    # ... and the encoder gets the reconstruction (through z_q) and the commitment.
    assert tape.gradient(reconstruction, model.encoder.trainable_variables[0]) is not None


def test_ema_update_matches_the_closed_form_on_a_hand_example():
    # Codes 0 and 10 (D = 1); vectors 1, 2 go to code 0 and 9 to code 10.
    layer = _quantizer([[0.0], [10.0]], ema_decay=0.5, restart_threshold=0.0, epsilon=0.0)
    out = layer(tf.constant([[[[1.0], [2.0], [9.0]]]]), training=True)
    np.testing.assert_array_equal(out["indices"], [[[0, 0, 1]]])
    # N = 0.5 * 1 + 0.5 * (2, 1) = (1.5, 1); m = 0.5 * (0, 10) + 0.5 * (3, 9) = (1.5, 9.5).
    np.testing.assert_allclose(layer.counts, [1.5, 1.0])
    np.testing.assert_allclose(layer.sums, [[1.5], [9.5]])
    np.testing.assert_allclose(layer.codebook, [[1.0], [9.5]], rtol=1e-6)
    # This step's outputs used the codebook before the update.
    np.testing.assert_allclose(out["z_q"], [[[[0.0], [0.0], [10.0]]]])
    # Laplace smoothing: N~_k = (N_k + eps) / (n + K eps) * n.
    counts, sums, codebook = ema_codebook(
        tf.constant([1.0, 0.0]), tf.constant([[2.0], [3.0]]), tf.constant([1.0, 0.0]),
        tf.constant([[4.0], [0.0]]), 0.5, 0.1)
    n = 1.0
    smoothed = (np.array([1.0, 0.0]) + 0.1) / (n + 2 * 0.1) * n
    np.testing.assert_allclose(codebook, np.array([[3.0], [1.5]]) / smoothed[:, None],
                               rtol=1e-6)


def test_a_dead_code_restarts_at_an_encoder_output_of_the_batch():
    layer = _quantizer([[0.0, 0.0], [100.0, 100.0]], restart_threshold=0.5,
                       usage_decay=0.5)
    layer.counts.assign([1.0, 0.4])  # code 1 is (nearly) unused
    z_e = tf.constant(np.random.default_rng(0).normal(size=(2, 2, 2, 2)), tf.float32)
    layer(z_e, training=True, seed=tf.constant([1, 2]))
    new = np.array(layer.codebook)
    np.testing.assert_array_equal(new[0], [0.0, 0.0])  # in use: kept
    assert any(np.allclose(new[1], v) for v in np.reshape(z_e, (-1, 2)))
    assert float(layer.counts[1]) == 1.0


def test_perplexity_is_the_number_of_codes_in_use():
    assert float(perplexity(tf.constant([5.0, 5.0, 5.0, 5.0]))) == pytest.approx(4.0)
    assert float(perplexity(tf.constant([0.0, 7.0, 0.0]))) == pytest.approx(1.0)
    assert 2.0 < float(perplexity(tf.constant([1.0, 2.0, 3.0]))) < 3.0


def test_the_prior_stage_trains_the_prior_alone_on_frozen_codes():
    first = contract.fit_step("vq_vae")
    # The EMA moved the (non-trainable) codebook during stage one.
    assert not np.array_equal(first.quantizer.codebook, contract.build("vq_vae").quantizer.codebook)
    model = contract.build("vq_vae", stage="prior")
    assert model.warm_start(first) == ["encoder", "quantizer", "decoder"]
    frozen = model.encoder.weights + model.quantizer.weights + model.decoder.weights
    assert not {id(v) for v in frozen} & {id(v) for v in model.trainable_variables}
    before, prior = _weights(frozen), _weights(model.prior.trainable_variables)
    model.compile(**model.make_optimizers())
    history = model.fit(contract.batches(model), epochs=1, verbose=0, shuffle=False).history
    assert set(history) == {"loss", "bits_per_code", "perplexity"}
    assert not any(_changed(before, frozen))
    assert all(_changed(prior, model.prior.trainable_variables))
    x = contract.real_images(model, 4)
    np.testing.assert_array_equal(model.encode(x), first.encode(x))
    with pytest.raises(Exception, match="differs in num_codes"):
        contract.build("vq_vae", stage="prior", num_codes=6).warm_start(first)


def test_the_exported_sampler_equals_model_sample_row_for_row(tmp_path):
    from export import export_model

    model = contract.fit_step("vq_vae")
    export_model(model, str(tmp_path / "export"))
    served = tf.saved_model.load(str(tmp_path / "export"))
    seeds = np.array([[7, 2], [7, 0], [7, 1]], np.int32)
    out = served.signatures["serving_default"](seed=tf.constant(seeds))
    expected = model.sample(3, seed=7).numpy()[[2, 0, 1]]
    np.testing.assert_allclose(out["images"], expected, atol=1e-6)
    assert out["codes"].dtype == tf.int32
    np.testing.assert_allclose(model.decode(out["codes"].numpy()), expected, atol=1e-6)


def test_codes_are_checked():
    model = contract.build("vq_vae")
    with pytest.raises(InputError, match=r"lie in \[0, 8\)"):
        model.decode(np.full((1, 4, 4), 8, np.int32))
    with pytest.raises(InputError, match=r"shape \[N, 4, 4\]"):
        model.decode(np.zeros((1, 3, 4), np.int32))
    with pytest.raises(InputError, match="integers"):
        model.decode(np.zeros((1, 4, 4), np.float32))


def _cli(model, out, *extra):
    args = [model, "--epochs", "1", "--out", str(out), "--verbose", "0",
            "--iwae-samples", "0"]
    for key, value in TINY_CONFIGS.get(model, {}).items():
        args += ["--set", f"{key}={value}".replace(" ", "")]
    return train_cli.main(args + list(extra))


@pytest.mark.slow
def test_two_stages_through_the_cli_end_to_end(tmp_path, capsys):
    from export import hub

    assert _cli("vq_vae", tmp_path / "stage1") == 0
    stage1 = json.load(open(tmp_path / "stage1" / "metrics.json"))
    assert {"reconstruction", "perplexity"} <= set(stage1["history"])
    assert _cli("vq_vae", tmp_path / "stage2", "--set", "stage=prior",
                "--init-from", str(tmp_path / "stage1")) == 0
    run = json.load(open(tmp_path / "stage2" / "run.json"))
    assert run["warm_started"] == ["encoder", "quantizer", "decoder"]
    metrics = json.load(open(tmp_path / "stage2" / "metrics.json"))
    assert "bits_per_code" in metrics["history"]
    assert 0 < metrics["evaluation"]["test_prior_bits_per_code"] <= 3.0 + 1e-6  # log2(8)
    # The autoencoder came through unchanged; the export samples seed -> images.
    one = keras.saving.load_model(tmp_path / "stage1" / "model.keras")
    two = keras.saving.load_model(tmp_path / "stage2" / "model.keras")
    for a, b in zip(one.encoder.weights + one.decoder.weights,
                    two.encoder.weights + two.decoder.weights):
        np.testing.assert_array_equal(a, b)
    served = hub.load(tmp_path / "stage2" / "export" / "vq_vae")
    seeds = np.array([[0, 0], [0, 1]], np.int32)
    images = served.predict("serving_default", seed=seeds)["images"]
    np.testing.assert_allclose(images, two.sample(2, seed=0), atol=1e-6)
    # Bad sources: clear errors, and nothing is written.
    capsys.readouterr()
    assert _cli("vq_vae", tmp_path / "bad", "--set", "stage=prior",
                "--init-from", str(tmp_path / "missing")) == 2
    assert "no run.json there" in capsys.readouterr().err
    assert _cli("vq_vae", tmp_path / "bad", "--set", "stage=prior", "--set", "num_codes=4",
                "--init-from", str(tmp_path / "stage1")) == 2
    assert "differs in num_codes" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


# --------------------------------------------------------------- PixelVAE
def test_pixel_vae_decoder_is_causal_by_gradients():
    model = contract.build("pixel_vae")
    h, w, c = model.image_shape
    x = tf.constant(contract.real_images(model, 1))
    m = model.decoder(tf.random.stateless_normal([1, model.latent_dim], [0, 1]))
    for d in (0, 13, 35, h * w * c - 1):
        r, col = divmod(d, w)
        with tf.GradientTape() as tape:
            tape.watch(x)
            logit = model._pixel_logits(x, m)[0, r, col, 0]
        g = np.abs(tape.gradient(logit, x).numpy()).reshape(-1)
        assert np.all(g[d:] == 0), f"logit {d} reads pixels {np.nonzero(g[d:])[0] + d}"
        if d > 0:
            assert g[:d].max() > 0, f"logit {d} ignores the past"
    with tf.GradientTape() as tape:
        mz = tf.Variable(m)
        logit = model._pixel_logits(x, mz)[0, 0, 0, 0]
    assert float(tf.reduce_max(tf.abs(tape.gradient(logit, mz)))) > 0, "z is ignored"


def test_pixel_vae_decoder_is_normalized_and_samples_follow_it():
    """2x2 images: p(x|z) sums to 1 over the 16 images, and 4000 draws
    from the sampler's loop follow it (chi-square)."""
    import zoo

    model = zoo.get("pixel_vae", image_shape=(2, 2, 1), latent_dim=2, filters=(4,),
                    dense_units=8, pixel_filters=4, pixel_layers=1, seed=0)
    rng = np.random.default_rng(0)
    for v in model.weights:  # a decoder far from uniform
        v.assign(rng.normal(size=v.shape).astype(np.float32))
    states = np.array(list(itertools.product([0.0, 1.0], repeat=4)), np.float32)
    z = np.tile(rng.normal(size=(1, 2)).astype(np.float32), (16, 1))
    p = np.exp(np.asarray(model.log_px(z, states.reshape(16, 2, 2, 1)), np.float64))
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    n = 4000
    m = model.decoder(np.repeat(z[:1], n, 0))
    draws = model._autoregress(m, tf.random.stateless_uniform((n, 2, 2, 1), [3, 4]))
    index = np.asarray(draws).reshape(n, 4) @ np.array([8, 4, 2, 1])
    counts = np.bincount(index.astype(int), minlength=16)
    keep = p * n >= 5
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(p[keep] * n, p[~keep].sum() * n)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_pixel_vae_iwae_bound_is_above_the_elbo():
    model = contract.fit_step("pixel_vae")
    x = contract.real_images(model, 16)
    elbo = float(np.mean(model.elbo(x, seed=1)))
    iwae = float(np.mean(model.iwae(x, num_samples=64, seed=1)))
    assert elbo <= iwae < 0, (elbo, iwae)


def test_vae_evaluation_reports_kl_per_dim_and_active_units():
    from training.likelihood import evaluate

    model = contract.fit_step("pixel_vae")
    x = contract.real_images(model, 8)
    kl = model.kl_per_dim(x)
    np.testing.assert_allclose(tf.reduce_sum(kl, 1), model.kl(x), rtol=1e-5)
    result = evaluate(model, contract.batches(model, training=False, n=32), iwae_samples=0)
    assert len(result["test_kl_per_dim"]) == model.latent_dim
    assert 0 <= result["active_units"] <= model.latent_dim
    assert sum(result["test_kl_per_dim"]) > 0


# ---------------------------------------------------------------- VAE-GAN
def _real(model, n=16):
    batch = next(iter(contract.batches(model, n=n, batch_size=n)))
    return to_symmetric(model.images_from_batch(batch))


def test_vae_gan_three_optimizers_move_their_own_networks():
    model = contract.build("vae_gan")
    model.compile()
    real = _real(model)
    enc, dec, dis = (model.encoder.trainable_variables, model.generator.trainable_variables,
                     model.discriminator.trainable_variables)
    e0, g0, d0 = _weights(enc), _weights(dec), _weights(dis)
    model.d_step(real)
    assert all(_changed(d0, dis)) and not any(_changed(e0, enc) + _changed(g0, dec))
    d0 = _weights(dis)
    model.g_step(real)
    assert all(_changed(e0, enc)) and all(_changed(g0, dec)) and not any(_changed(d0, dis))
    assert int(model.e_optimizer.iterations) == int(model.g_optimizer.iterations) == 1
    # The encoder follows KL + L_llike only: a decoder with zero learning rate
    # still gets no update, the encoder does.
    model = contract.build("vae_gan")
    model.compile(g_optimizer=keras.optimizers.SGD(0.0), e_optimizer=keras.optimizers.SGD(0.1))
    g0, e0 = _weights(model.generator.trainable_variables), _weights(model.encoder.weights)
    model.g_step(_real(model))
    assert not any(_changed(g0, model.generator.trainable_variables))
    assert all(_changed(e0, model.encoder.weights))


def test_vae_gan_feature_error_is_half_the_squared_feature_distance():
    model = contract.build("vae_gan")
    real = _real(model, 4)
    p = model._forward(real, None, training=False)
    features = model.discriminator(real)[:, 1:]
    assert features.shape[-1] > 1
    np.testing.assert_allclose(p.real_out[:, 1:], features, rtol=1e-6)
    expected = 0.5 * np.sum(np.square(features - p.recon_out[:, 1:]), -1)
    np.testing.assert_allclose(p.feature_error, expected, rtol=1e-5)
    terms = model._generator_terms(p)
    np.testing.assert_allclose(terms["e_loss"], p.kl + expected, rtol=1e-5)


# ------------------------------------------------------------------ BiGAN
def test_bigan_generator_loss_is_the_discriminator_loss_with_labels_swapped():
    model = contract.build("bigan")
    p = model._forward(_real(model, 4), None, training=False)
    real, fake = p.real_out[:, 0].numpy(), p.fake_out[:, 0].numpy()
    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    np.testing.assert_allclose(model._discriminator_terms(p)["d_loss"],
                               softplus(-real) + softplus(fake), rtol=1e-5)
    np.testing.assert_allclose(model._generator_terms(p)["g_loss"],
                               softplus(real) + softplus(-fake), rtol=1e-5)


def _blobs(n, seed):
    """4 tight Gaussian blobs in [0, 1]^2 as (1, 1, 2) images."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]])
    points = centers[rng.integers(0, 4, n)] + 0.03 * rng.normal(size=(n, 2))
    return np.clip(points, 0, 1).astype(np.float32).reshape(n, 1, 1, 2)


@pytest.mark.slow
def test_bigan_encoder_and_generator_become_approximately_inverse():
    """Trained on 4 blobs, G(E(x)) lands near x: mean squared error below
    a quarter of that of a random pairing of data points (fixed seed)."""
    import zoo

    keras.utils.set_random_seed(0)
    model = zoo.get("bigan", image_shape=(1, 1, 2), latent_dim=2, hidden_units=(64, 64),
                    dropout=0.0, seed=0)
    model.compile()
    model.fit(_blobs(4096, 0), batch_size=128, epochs=15, verbose=0, shuffle=False)
    x = _blobs(1000, 1)
    error = float(np.mean(np.square(model.reconstruct(x) - x)))
    chance = float(np.mean(np.square(x - x[::-1])))
    assert error < 0.25 * chance, (error, chance)


def test_a_labelled_prior_is_class_conditional_and_served_with_labels(tmp_path):
    model = contract.fit_step("vq_vae", stage="prior", num_classes=10)
    assert model.requires_labels and model.prior.conditional
    seeds = np.array([[4, 0], [4, 1]], np.int32)
    a = model.sample_from_seeds(seeds, labels=[3, 3])
    b = model.sample_from_seeds(seeds, labels=[3, 8])
    np.testing.assert_array_equal(a[0], b[0])  # row 0: same seed, same label
    with pytest.raises(InputError, match="class-conditional"):
        model.sample_from_seeds(seeds)
    contract.export_round_trip("vq_vae", tmp_path, model=model)
    served = tf.saved_model.load(str(tmp_path / "export"))
    assert set(served.signatures["serving_default"].structured_input_signature[1]) == \
        {"seed", "label"}
    # Stage one needs no labels even with num_classes set.
    assert not contract.build("vq_vae", num_classes=10).requires_labels
