"""VAE invariants: closed-form KL, IWAE bounds, training progress, latent tools."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests import contract
from training import datasets
from training.likelihood import evaluate
from zoo import latent
from zoo.distributions import ImageLikelihood

# Tiny configs for the shared contract (tests/contract.py).
TINY_CONFIGS = {
    "vae": dict(latent_dim=4, hidden_units=(32,)),
    "conv_vae": dict(latent_dim=4, filters=(8, 16), dense_units=32),
}


@pytest.fixture(scope="module")
def trained():
    """A dense VAE trained for a few epochs on digits, with its test set."""
    keras.utils.set_random_seed(0)
    model = zoo.get("vae", image_shape=(8, 8, 1), latent_dim=8, seed=0)
    train = datasets.load("digits", "train", batch_size=64,
                          mode=model.preprocessing(True))
    test = datasets.load("digits", "test", batch_size=512,
                         mode=model.preprocessing(False), shuffle=False)
    before = evaluate(model, test, iwae_samples=0)["test_elbo_nats"]
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    model.fit(train, epochs=15, verbose=0, shuffle=False)
    images = np.concatenate([np.asarray(b) for b in test])
    return model, images, before, test


@pytest.mark.parametrize("name", ["vae", "conv_vae"])
def test_kl_is_closed_form_and_nonnegative(name):
    model = contract.build(name)
    images = contract.real_images(model, 16)
    mean, log_var = np.split(model.encoder(images).numpy(), 2, axis=-1)
    expected = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)
    kl = model.kl(images).numpy()
    assert np.all(kl >= 0)
    np.testing.assert_allclose(kl, expected, rtol=1e-4, atol=1e-5)


def test_loss_is_reconstruction_plus_beta_kl():
    model = contract.build("vae", beta=4.0)
    model.compile(optimizer="adam")
    logs = model.evaluate(contract.batches(model, training=False), verbose=0,
                          return_dict=True)
    np.testing.assert_allclose(logs["loss"],
                               logs["reconstruction"] + 4.0 * logs["kl"], rtol=1e-5)


def test_training_beats_initialisation(trained):
    model, _, before, test = trained
    after = evaluate(model, test, iwae_samples=0)["test_elbo_nats"]
    # Random init sits near 64 * log 2 = 44 nats; trained is near 25.
    assert after > before + 10, (before, after)


def test_iwae_agrees_with_elbo_at_k1_and_is_tighter_at_k10(trained):
    """`iwae` against the independent `elbo` (closed-form KL), per image."""
    model, images, _, _ = trained
    # `elbo(images, seed=s)`, traced: eager, its per-row noise costs ~1 ms a row.
    elbo_from_seeds = tf.function(model.elbo_from_seeds)
    rows = np.arange(len(images))
    elbo = np.mean([elbo_from_seeds(images, np.stack([np.full_like(rows, s), rows], 1)
                                    .astype(np.int32)).numpy() for s in range(5)], axis=0)

    def gap(k):
        d = model.iwae(images, num_samples=k, seed=1).numpy() - elbo
        sem = d.std(ddof=1) / np.sqrt(len(d))
        assert sem < 0.1, f"k={k}: too noisy to tell ({sem})"
        return d.mean(), sem

    # k = 1 is an unbiased ELBO estimate (its KL is a one-sample Monte Carlo).
    mean, sem = gap(1)
    assert abs(mean) < 4 * sem, (mean, sem)
    # A larger k is a tighter bound. (The step from 10 to 100, about 0.04
    # nats, is within 2-3 standard errors on 359 images, so it is not tested.)
    mean, sem = gap(10)
    assert mean > 4 * sem, (mean, sem)


@pytest.mark.parametrize("k", [1, 10, 100])
def test_iwae_equals_brute_force_log_mean_exp(trained, k):
    model, images, _, _ = trained
    x, seed = images[:8], 11
    n, dim = len(x), model.latent_dim
    q = model.encode(x)
    # The noise `iwae` documents: sample j's eps from seed row [seed, j].
    eps = np.stack([tf.random.stateless_normal([n, dim], seed=[seed, j]).numpy()
                    for j in range(k)])
    z = q.mean().numpy() + q.stddev().numpy() * eps  # [k, N, latent]
    params = model.decoder(z.reshape(k * n, dim))
    log_px = model.likelihood.log_prob(params, np.tile(x, (k, 1, 1, 1))).numpy()
    log_w = (log_px.reshape(k, n) + model.prior.log_prob(z).numpy()
             - q.log_prob(z).numpy()).astype(np.float64)
    top = log_w.max(0)
    expected = top + np.log(np.mean(np.exp(log_w - top), axis=0))
    # chunk_size 7 splits k = 10 and 100 unevenly.
    got = model.iwae(x, num_samples=k, seed=seed, chunk_size=7).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    if k > 1:
        # The weights spread enough that averaging log w (the ELBO) instead
        # of w would miss the tolerance above by far.
        assert np.all(expected - log_w.mean(0) > 0.02), expected - log_w.mean(0)


def test_iwae_is_reproducible_and_chunk_invariant(trained):
    model, images, _, _ = trained
    x = images[:20]
    a = model.iwae(x, num_samples=40, seed=3, chunk_size=40).numpy()
    np.testing.assert_array_equal(model.iwae(x, num_samples=40, seed=3, chunk_size=40), a)
    # Sample j's noise depends on j alone, so chunking can only change the
    # rounding of the batched decoder.
    for chunk in (1, 7, 39, 64):
        np.testing.assert_allclose(
            model.iwae(x, num_samples=40, seed=3, chunk_size=chunk), a, rtol=1e-6,
            err_msg=f"chunk_size={chunk}")
    # Other noise moves the estimates far beyond that tolerance.
    other = model.iwae(x, num_samples=40, seed=4).numpy()
    assert np.median(np.abs(other - a)) > 1e-2


def test_elbo_rows_do_not_depend_on_batch(trained):
    model, images, _, _ = trained
    seeds = np.array([[5, i] for i in range(6)], np.int32)
    together = model.elbo_from_seeds(images[:6], seeds)
    alone = [model.elbo_from_seeds(images[i:i + 1], seeds[i:i + 1])[0] for i in range(6)]
    np.testing.assert_allclose(together, alone, rtol=1e-5)


@pytest.mark.parametrize("kind", ["discretized_logistic", "bernoulli", "gaussian"])
def test_likelihood_normalizes(kind):
    """Discrete likelihoods sum to 1 over their support; the Gaussian integrates to 1."""
    lik = ImageLikelihood(kind, num_levels=16)
    params = tf.constant([[[[0.3] * lik.params_per_channel]], [[[-2.0, 1.5][:lik.params_per_channel]]]])
    if kind == "gaussian":
        grid = np.linspace(-15, 16, 40001, dtype=np.float32)
        dist = lik.distribution(params)
        dens = np.exp(dist.log_prob(grid.reshape(-1, 1, 1, 1, 1)).numpy())
        total = np.trapezoid(dens, grid, axis=0)
    elif kind == "bernoulli":
        values = tf.constant([0.0, 1.0])[:, None, None, None, None]
        total = np.exp(lik.distribution(params).log_prob(values).numpy()).sum(0)
    else:
        levels = np.arange(16, dtype=np.float32) / 15
        total = np.exp(lik.log_prob(params, levels.reshape(-1, 1, 1, 1, 1)
                                    * np.ones((1, 2, 1, 1, 1), np.float32)).numpy()).sum(0)
    np.testing.assert_allclose(total, 1.0, atol=1e-4)


def test_decode_of_prior_draw_equals_sample():
    model = contract.build("conv_vae")
    seeds = np.array([[1, 2], [3, 4]], np.int32)
    z = np.stack([model.prior.sample(seed=tf.constant(s)).numpy() for s in seeds])
    np.testing.assert_allclose(model.decode(z), model.sample_from_seeds(seeds), atol=1e-6)


def test_bad_config_is_rejected_clearly():
    with pytest.raises(zoo.ConfigError, match="latent_dim"):
        zoo.get("vae", latent_dim=0)
    with pytest.raises(zoo.ConfigError, match="beta"):
        zoo.get("vae", beta=-1)
    with pytest.raises(zoo.ConfigError, match="likelihood"):
        zoo.get("vae", likelihood="poisson")
    with pytest.raises(zoo.ConfigError, match="image_shape"):
        zoo.get("vae", image_shape=(8, 8))
    with pytest.raises(zoo.ConfigError, match="latnet_dim.*accepts.*latent_dim"):
        zoo.get("vae", latnet_dim=3)
    with pytest.raises(zoo.UnknownModelError, match="Did you mean vae"):
        zoo.get("vea")


def test_bad_inputs_are_rejected_clearly():
    model = contract.build("vae")
    with pytest.raises(zoo.InputError, match=r"\[N, 8, 8, 1\].*\[2, 8, 8\]"):
        model.reconstruct(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(zoo.InputError, match="dtype"):
        model.encode(np.zeros((2, 8, 8, 1), np.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        model.reconstruct(np.full((1, 8, 8, 1), 2.0, np.float32))
    with pytest.raises(zoo.InputError, match="codes"):
        model.decode(np.zeros((2, 3), np.float32))
    with pytest.raises(zoo.InputError, match="seed"):
        model.sample(2, seed=-1)
    with pytest.raises(zoo.InputError, match="num_samples"):
        model.sample(0)
    with pytest.raises(zoo.InputError, match=r"\[N, 2\]"):
        model.sample_from_seeds(np.zeros((2, 3), np.int32))
    with pytest.raises(zoo.InputError, match="not class-conditional"):
        model.sample(2, seed=0, labels=[0, 1])


def test_interpolation_endpoints_and_slerp_norm():
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=(2, 6)).astype(np.float32)
    z1 = z1 / np.linalg.norm(z1) * np.linalg.norm(z0)
    for method in ("linear", "spherical"):
        path = latent.interpolate(z0, z1, num_steps=7, method=method).numpy()
        np.testing.assert_allclose(path[0], z0, atol=1e-5)
        np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    slerp = latent.interpolate(z0, z1, num_steps=7, method="spherical").numpy()
    np.testing.assert_allclose(np.linalg.norm(slerp, axis=1), np.linalg.norm(z0), rtol=1e-4)
    linear = latent.interpolate(z0, z1, num_steps=7).numpy()
    assert np.linalg.norm(linear[3]) < np.linalg.norm(z0) * 0.999
    batched = latent.interpolate(np.stack([z0, z1]), np.stack([z1, z0]), num_steps=5,
                                 method="spherical")
    assert batched.shape == (2, 5, 6)


def test_manifold_grid_and_attribute_vector(trained):
    model, images, _, _ = trained
    grid = latent.manifold_grid(model, grid_size=4, dims=(1, 3))
    assert grid.shape == (16, 8, 8, 1)
    x, y = datasets.load_arrays("digits", "test")
    x = (x / 255.0).astype(np.float32)
    vector = latent.attribute_vector(model, x, y, target=1, source=0)
    z = latent.codes(model, x).numpy()
    np.testing.assert_allclose(vector, z[y == 1].mean(0) - z[y == 0].mean(0), atol=1e-5)
    moved = latent.apply_attribute(z[y == 0][:1], vector, strengths=(0.0, 1.0))
    # At strength 1 the code of a zero moves to the mean code of the ones.
    d_one = np.linalg.norm(moved[1, 0] - z[y == 1].mean(0))
    assert d_one < np.linalg.norm(moved[0, 0] - z[y == 1].mean(0))
    dims = latent.active_dims(model, x, num_dims=3)
    activity = np.var(z, axis=0)
    assert activity[dims[0]] == activity.max() and activity[dims[0]] >= activity[dims[2]]
    with pytest.raises(zoo.InputError, match="class 42"):
        latent.attribute_vector(model, x, y, target=42, source=0)


def test_prior_without_closed_form_kl_uses_monte_carlo():
    import tensorflow_probability as tfp

    tfd = tfp.distributions

    class MixturePriorVAE(zoo.get_class("vae")):
        def _make_prior(self):
            return tfd.MixtureSameFamily(
                tfd.Categorical(logits=tf.zeros(2)),
                tfd.MultivariateNormalDiag(loc=[[-2.0] * self.latent_dim,
                                                [2.0] * self.latent_dim],
                                           scale_diag=tf.ones([2, self.latent_dim])))

    model = MixturePriorVAE(latent_dim=3, hidden_units=(16,), seed=0)
    images = contract.real_images(model, 8)
    with pytest.raises(NotImplementedError):
        tfd.kl_divergence(model.posterior(images), model.prior)
    eps = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    log_px, kl = model._elbo_terms(images, eps)
    q = model.posterior(images)
    z = q.mean() + q.stddev() * eps
    np.testing.assert_allclose(kl, q.log_prob(z) - model.prior.log_prob(z), rtol=1e-5)
    model.compile(optimizer="adam")
    logs = model.fit(contract.batches(model), epochs=1, verbose=0, shuffle=False).history
    assert np.isfinite(logs["loss"][-1])
    assert model.sample(4, seed=0).shape == (4, 8, 8, 1)
