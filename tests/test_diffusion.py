"""Diffusion and flow matching: the noise processes apart from any network
(closed forms, optimal predictors on Gaussian data, the bound against an
enumerated NLL), then the models (DDIM inversion, guidance, samplers per
row, the U-Net's shapes, CLI runs and conditional exports)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import contract
from zoo.diffusion import process as dp
from zoo.errors import ConfigError, InputError
from zoo.layers.unet import unet

TINY_CONFIGS = {
    # v-prediction and the cosine schedule here (the shared contract runs
    # them); the trained fixture and the CLI run cover eps and linear.
    "ddpm": dict(num_timesteps=10, sampling_steps=3, ddim_signatures=(2,), widths=(8,),
                 attention_levels=(), prediction="v", schedule="cosine"),
    "flow_matching": dict(sampling_steps=3, ode_signatures=(2,), widths=(8,),
                          attention_levels=()),
}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------- the process
@pytest.mark.parametrize("schedule", dp.SCHEDULES)
def test_closed_form_marginal_equals_iterated_forward_steps(schedule):
    process = dp.GaussianDiffusion(50, schedule)
    n = 20000
    x0 = tf.constant(np.linspace(-1, 1, 4, dtype=np.float32)[None].repeat(n, 0))
    x = x0
    for i in range(process.num_timesteps):
        index = tf.fill([n], i)
        x = process.q_step(x, index, tf.random.stateless_normal(x.shape, seed=[i, 1]))
        if i in (0, 9, 24, 49):
            closed = process.q_sample(x0, index, tf.random.stateless_normal(x.shape, [i, 2]))
            mean, std = np.sqrt(process.alphas_cumprod[i]) * x0[0], \
                np.sqrt(1 - process.alphas_cumprod[i])
            for draws in (x, closed):
                # Standard errors: std / sqrt(n) for the mean, ~std^2 sqrt(2/n) for the variance.
                np.testing.assert_allclose(np.mean(draws, 0), mean, atol=5 * std / np.sqrt(n))
                np.testing.assert_allclose(np.var(draws, 0), std ** 2,
                                           atol=5 * std ** 2 * np.sqrt(2 / n))
    assert process.alphas_cumprod[-1] < 0.01


def test_schedules_follow_their_papers():
    linear = dp.GaussianDiffusion(1000, "linear")
    np.testing.assert_allclose(linear.betas[[0, -1]], [1e-4, 0.02])
    cosine = dp.GaussianDiffusion(1000, "cosine")
    s = 0.008
    f = lambda t: np.cos((t / 1000 + s) / (1 + s) * np.pi / 2) ** 2  # noqa: E731
    np.testing.assert_allclose(cosine.alphas_cumprod[499], f(500) / f(0), rtol=1e-6)
    # The posterior of [1] eq. 7 at t = 1 has zero variance; sigma_1 uses t = 2's.
    assert linear.posterior_variance[0] == 0
    assert linear.model_log_variance[0] == linear.model_log_variance[1]
    with pytest.raises(ConfigError, match="schedule"):
        dp.GaussianDiffusion(10, "quadratic")
    with pytest.raises(ConfigError, match="num_timesteps"):
        dp.GaussianDiffusion(1)


def _gaussian_eps(process, mu, s):
    """The optimal eps-predictor for data N(mu, s^2): E[eps | x_t]."""
    ab = tf.constant(process.alphas_cumprod, tf.float32)

    def predict(x, index):
        a = tf.gather(ab, index)[:, None]
        return tf.sqrt(1 - a) * (x - tf.sqrt(a) * mu) / (a * s ** 2 + 1 - a)

    return predict


def _gaussian_velocity(mu, s):
    """E[eps - x_0 | x_t] for data N(mu, s^2) on the linear path."""
    def velocity(x, t):
        t = t[:, None]
        var = (1 - t) ** 2 * s ** 2 + t ** 2
        centred = x - (1 - t) * mu
        return t * centred / var - (mu + (1 - t) * s ** 2 * centred / var)

    return velocity


def _noise_fn(n, dims, seed):
    return lambda k: tf.random.stateless_normal([n, dims], seed=tf.stack([seed, k]))


@pytest.mark.parametrize("sampler", ["ddpm", "ddim_eta0", "ddim_eta1", "euler", "heun"])
def test_optimal_predictor_on_gaussian_data_recovers_its_moments(sampler):
    n, mu, s = 8000, 0.3, 0.5
    x_t = tf.random.stateless_normal([n, 2], seed=[7, 7])
    if sampler in ("euler", "heun"):
        x = dp.integrate(_gaussian_velocity(mu, s), x_t, 1.0, 0.0, 50, sampler)
    else:
        process = dp.GaussianDiffusion(200, "linear")
        eps = _gaussian_eps(process, mu, s)
        if sampler == "ddpm":
            x = dp.ddpm_sample(process, eps, x_t, _noise_fn(n, 2, 3), clip=False)
        else:
            # eta = 1 on a coarse subsequence under-disperses (its variance is
            # beta-tilde of the big jump, not the true reverse variance), so
            # it runs every step, where it is the DDPM sampler.
            eta = float(sampler[-1])
            x = dp.ddim_sample(process, eps, x_t, 200 if eta else 50, tf.fill([n], eta),
                               _noise_fn(n, 2, 4), clip=False)
    x = x.numpy()
    np.testing.assert_allclose(x.mean(0), mu, atol=0.03)
    np.testing.assert_allclose(x.std(0), s, atol=0.03)


def test_ddim_with_eta_1_on_every_step_is_the_ddpm_sampler():
    # [3] sec. 4.1: sigma(eta = 1) = sqrt(beta-tilde_t), and the mean is then
    # the posterior mean; with the same noise the two samplers agree.
    process = dp.GaussianDiffusion(30, "cosine")
    eps = _gaussian_eps(process, 0.1, 0.7)
    x_t = tf.random.stateless_normal([64, 3], seed=[2, 2])
    ddpm = dp.ddpm_sample(process, eps, x_t, _noise_fn(64, 3, 5), clip=True)
    ddim = dp.ddim_sample(process, eps, x_t, 30, tf.ones([64]), _noise_fn(64, 3, 5), clip=True)
    np.testing.assert_allclose(ddim, ddpm, atol=2e-4)


def test_wrong_predictor_misses_the_moments():
    # The check above can fail: a predictor for the wrong data is caught.
    process = dp.GaussianDiffusion(200, "linear")
    x = dp.ddim_sample(process, _gaussian_eps(process, 0.0, 1.0),
                       tf.random.stateless_normal([4000, 2], seed=[1, 1]), 50, 0.0, None,
                       clip=False).numpy()
    assert abs(x.std() - 0.5) > 0.3


def test_v_and_eps_parameterizations_invert_each_other():
    process = dp.GaussianDiffusion(100, "cosine")
    x0 = tf.random.stateless_uniform([6, 3], [1, 2], -1, 1)
    eps = tf.random.stateless_normal([6, 3], [3, 4])
    index = tf.constant([0, 5, 20, 50, 80, 99])
    xt = process.q_sample(x0, index, eps)
    v = process.v_target(x0, index, eps)
    np.testing.assert_allclose(process.eps_from_v(xt, index, v), eps, atol=1e-4)
    np.testing.assert_allclose(process.x0_from_eps(xt, index, eps), x0, atol=1e-3)


def test_discretized_decoder_normalizes_over_the_256_levels():
    levels = np.linspace(-1, 1, 256, dtype=np.float32)[:, None]
    for mean, log_scale in [(0.1, -3.0), (-0.97, -1.0), (0.999, -6.0), (0.5, 1.0)]:
        logp = dp.discretized_gaussian_log_likelihood(
            tf.constant(levels), tf.fill([256, 1], mean), tf.fill([256, 1], log_scale))
        assert abs(np.exp(logp.numpy()).sum() - 1) < 1e-4, (mean, log_scale)


def _enumerated_nll_and_bound(process, values, probs, clip):
    """(-log P(x_0 = v), the bound's expected value) for each data value v of
    1-D data in [-1, 1] under the chain of the optimal eps-predictor of
    the data (a mixture of point masses).

    The true marginal P(x_0) is enumerated over the 256 levels by pushing
    the density of x_T = N(0, 1) through p(x_{t-1} | x_t) on a fine grid;
    the bound's expectation over q uses Gauss-Hermite quadrature in x_t.
    """
    ab = tf.constant(process.alphas_cumprod, tf.float32)
    centres = tf.constant(values, tf.float32)
    log_w = tf.constant(np.log(probs), tf.float32)

    def predict(x, index):
        a = tf.gather(ab, index)[:, None]
        # Posterior weights of the mixture's components given x_t.
        logits = log_w - 0.5 * tf.square(x - tf.sqrt(a) * centres) / (1 - a)
        x0 = tf.reduce_sum(tf.nn.softmax(logits, -1) * centres, -1, keepdims=True)
        return (x - tf.sqrt(a) * x0) / tf.sqrt(1 - a)

    num = process.num_timesteps
    grid = np.linspace(-6, 6, 2401).astype(np.float32)
    dx = grid[1] - grid[0]
    density = np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi)
    x = tf.constant(grid[:, None])
    for i in range(num - 1, 0, -1):
        index = tf.fill([len(grid)], i)
        mean, logvar = process.p_mean(x, index, predict(x, index), clip)
        mean, sd = mean.numpy()[:, 0], np.exp(0.5 * logvar.numpy()[0, 0])
        kernel = np.exp(-0.5 * ((grid[None] - mean[:, None]) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
        density = (density[:, None] * kernel).sum(0) * dx
    index = tf.zeros([len(grid)], tf.int32)
    mean, logvar = process.p_mean(x, index, predict(x, index), clip)
    levels = np.linspace(-1, 1, 256, dtype=np.float32)
    decoder = np.exp(dp.discretized_gaussian_log_likelihood(
        tf.constant(levels[None]), mean, 0.5 * logvar).numpy())       # [grid, 256]
    marginal = (density[:, None] * decoder).sum(0) * dx
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    nll, bound = [], []
    for v in values:
        k = int(np.argmin(np.abs(levels - v)))
        nll.append(-np.log(marginal[k]))
        x0 = tf.fill([len(nodes), 1], levels[k])
        total = float(process.prior_kl(x0[:1])[0])
        for i in range(num):
            index = tf.fill([len(nodes)], i)
            xt = process.q_sample(x0, index, tf.constant(nodes[:, None], tf.float32))
            terms = process.bound_term(x0, xt, index, predict(xt, index), clip).numpy()
            total += float((weights * terms).sum())
        bound.append(total)
    return np.array(nll), np.array(bound), marginal.sum()


@pytest.mark.parametrize("schedule,clip", [("linear", True), ("cosine", False)])
def test_bound_is_at_least_the_enumerated_nll_on_a_discrete_toy(schedule, clip):
    process = dp.GaussianDiffusion(8, schedule)
    values = np.array([-0.6, 0.2, 0.8], np.float32)
    nll, bound, total = _enumerated_nll_and_bound(process, values, [0.5, 0.3, 0.2], clip)
    # The enumeration is a probability over the 256 levels...
    assert abs(total - 1) < 2e-3, total
    # ... and the variational bound lies above its NLL, for every data point.
    assert np.all(bound >= nll - 1e-3), (bound, nll)
    assert np.all(bound - nll < 5.0), (bound, nll)


def test_bound_without_the_prior_term_can_fall_below_the_nll():
    # Dropping L_T (a real bug) breaks the inequality here: the test above can fail.
    process = dp.GaussianDiffusion(8, "linear", beta_end=0.002)
    values = np.array([0.9], np.float32)
    nll, bound, _ = _enumerated_nll_and_bound(process, values, [1.0], True)
    prior = float(process.prior_kl(tf.constant([[values[0]]]))[0])
    assert bound[0] >= nll[0] - 1e-3 and bound[0] - prior < nll[0], (bound, nll, prior)


# ------------------------------------------------------------------ the U-Net
@pytest.mark.parametrize("shape", [(7, 7, 1), (8, 6, 3), (28, 28, 1), (5, 9, 2)])
def test_unet_keeps_odd_and_even_shapes(shape):
    net = unet(shape, widths=(8, 8, 16), attention_levels=(2,), num_classes=3)
    x = tf.random.stateless_normal((2,) + shape, [1, 1])
    out = net([x, tf.constant([0.0, 500.0]), tf.constant([0, 3])])
    assert out.shape == (2,) + shape and out.dtype == tf.float32


# ------------------------------------------------------------------ the models
def _tiny(name, **overrides):
    return contract.build(name, **overrides)


@pytest.fixture(scope="module")
def trained_ddpm():
    """A tiny DDPM trained briefly on the digits (T = 100)."""
    model = _tiny("ddpm", num_timesteps=100, sampling_steps=50, widths=(16,), ema_decay=None,
                  prediction="epsilon", schedule="linear")
    model.compile(**model.make_optimizers(learning_rate=2e-3))
    model.fit(contract.batches(model, n=512, batch_size=64).repeat(), steps_per_epoch=150,
              epochs=1, verbose=0)
    return model


def test_ddim_eta0_decode_inverts_encode_on_a_trained_model(trained_ddpm):
    x = contract.real_images(trained_ddpm, 8)
    z = trained_ddpm.encode(x)
    assert z.shape == (8, 64)
    error = np.abs(trained_ddpm.decode(z).numpy() - x)
    # Codes are noise-like and decoding them returns the images, up to the
    # discretization error of 50 steps (observed: mean 0.014-0.018, max
    # 0.11-0.16; 20 steps give 0.04 and 0.45).
    assert 0.7 < float(np.std(z)) < 1.5
    assert error.mean() < 0.03 and error.max() < 0.3, (error.mean(), error.max())


def test_trained_model_bound_beats_the_untrained_one(trained_ddpm):
    x = contract.real_images(trained_ddpm, 16)
    trained = float(tf.reduce_mean(trained_ddpm.elbo(x, seed=0)))
    fresh = _tiny("ddpm", num_timesteps=100, widths=(16,), prediction="epsilon",
                  schedule="linear")
    untrained = float(tf.reduce_mean(fresh.elbo(x, seed=0)))
    assert trained > untrained + 20, (trained, untrained)
    # Same seed, same bound; a bound of the 8-bit image's probability is <= 0.
    np.testing.assert_allclose(trained_ddpm.elbo(x[:3], seed=0), trained_ddpm.elbo(x[:3], seed=0))
    assert np.all(trained_ddpm.elbo(x, seed=1).numpy() < 0)


@pytest.mark.parametrize("options", [dict(sampler="ddpm"), dict(steps=4, eta=1.0),
                                     dict(steps=3, eta=0.5)])
def test_every_sampler_is_row_independent(options):
    model = _tiny("ddpm")
    seeds = np.array([[5, 0], [6, 1], [5, 2]], np.int32)
    together = model.sample_from_seeds(seeds, **options).numpy()
    for i in range(3):
        np.testing.assert_allclose(model.sample_from_seeds(seeds[i:i + 1], **options)[0],
                                   together[i], atol=1e-5)
    np.testing.assert_array_equal(model.sample_from_seeds(seeds, **options), together)


@pytest.mark.parametrize("name", ["ddpm", "flow_matching"])
def test_denoising_figure_pairs_noised_images_with_predictions(name):
    model = _tiny(name)
    x = contract.real_images(model, 3)
    grid, columns = model.figures(x)["denoising"]
    assert columns == 8 and grid.shape == (2 * 3 * 8, 8, 8, 1)
    grid = grid.numpy().reshape(3, 2, 8, 8, 8, 1)
    # The first column is the image with the least noise (T = 10: std 0.1 in
    # [-1, 1]), the last one noise.
    assert np.abs(grid[:, 0, 0] - x).mean() < 0.06
    assert np.abs(grid[:, 0, -1] - x).mean() > 0.2


def test_flow_matching_solvers_are_row_independent_and_differ():
    model = _tiny("flow_matching")
    seeds = np.array([[5, 0], [6, 1]], np.int32)
    euler = model.sample_from_seeds(seeds, solver="euler", steps=4).numpy()
    heun = model.sample_from_seeds(seeds, solver="heun", steps=4).numpy()
    np.testing.assert_allclose(model.sample_from_seeds(seeds[1:], solver="heun", steps=4)[0],
                               heun[1], atol=1e-5)
    assert not np.allclose(euler, heun)


def test_bad_sampler_options_and_configs_are_clear_errors():
    model = _tiny("ddpm")
    with pytest.raises(InputError, match="steps must be an integer in \\[1, 10\\]"):
        model.sample(2, seed=0, steps=11)
    with pytest.raises(InputError, match="eta must be in"):
        model.sample(2, seed=0, eta=1.5)
    with pytest.raises(InputError, match="ddpm sampler runs all 10 steps"):
        model.sample(2, seed=0, sampler="ddpm", steps=3)
    with pytest.raises(InputError, match="sampler must be one of"):
        model.sample(2, seed=0, sampler="plms")
    with pytest.raises(InputError, match="guidance needs num_classes"):
        model.sample(2, seed=0, guidance=2.0)
    with pytest.raises(ConfigError, match="sampling_steps"):
        _tiny("ddpm", sampling_steps=50)
    with pytest.raises(ConfigError, match="prediction"):
        _tiny("ddpm", prediction="x0")
    with pytest.raises(InputError, match="solver must be one of"):
        _tiny("flow_matching").sample(1, seed=0, solver="rk45")
    with pytest.raises(InputError, match="z must have|shape"):
        model.decode(np.zeros((2, 5), np.float32))


def _conditional(name, **overrides):
    model = _tiny(name, num_classes=10, **overrides)
    # The output layers start near zero; perturbed weights make the labels'
    # effect (and so guidance) visible.
    rng = np.random.default_rng(3)
    for w in model.network.trainable_weights:
        w.assign(w.numpy() + rng.normal(scale=0.2, size=w.shape).astype(np.float32))
    if model.ema_network is not None:
        for e, w in zip(model.ema_network.weights, model.network.weights):
            e.assign(w)
    return model


@pytest.mark.parametrize("name", ["ddpm", "flow_matching"])
def test_guidance_scale_0_is_the_unconditional_model_and_1_the_conditional(name):
    model = _conditional(name)
    x = tf.random.stateless_normal([4, 8, 8, 1], [1, 2])
    time = tf.constant([1, 3, 5, 7]) if name == "ddpm" else tf.constant([0.1, 0.3, 0.5, 0.9])
    labels = tf.constant([0, 1, 2, 1])
    unconditional = model.predictor(None)(x, time)
    conditional = model.predictor(labels)(x, time)
    assert not np.allclose(unconditional, conditional, atol=1e-3)
    np.testing.assert_allclose(model.predictor(labels, tf.zeros([4]))(x, time),
                               unconditional, atol=1e-5)
    np.testing.assert_allclose(model.predictor(labels, tf.ones([4]))(x, time),
                               conditional, atol=1e-5)
    # The samplers: scale 0 ignores the labels, scale 1 is the conditional model.
    seeds = np.array([[1, 0], [1, 1]], np.int32)
    a = model.sample_from_seeds(seeds, [0, 1], guidance=0.0)
    b = model.sample_from_seeds(seeds, [2, 2], guidance=0.0)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(model.sample_from_seeds(seeds, [2, 2], guidance=1.0),
                               model.sample_from_seeds(seeds, [2, 2]), atol=1e-4)
    assert not np.allclose(model.sample_from_seeds(seeds, [2, 2], guidance=3.0), b, atol=1e-3)


def test_label_dropout_replaces_its_share_of_labels_by_the_null_label():
    model = _tiny("ddpm", num_classes=4, label_dropout=0.25)
    dropped = np.concatenate([
        model._train_labels(tf.zeros([1000], tf.int32), training=True).numpy()
        for _ in range(4)])
    share = np.mean(dropped == 4)
    assert abs(share - 0.25) < 0.03 and set(np.unique(dropped)) == {0, 4}
    np.testing.assert_array_equal(model._train_labels(tf.zeros([8], tf.int32), False), 0)


def _train_cli(out, name, *extra):
    env = {k: v for k, v in os.environ.items()}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run([sys.executable, "-m", "training.train", name, "--epochs", "1",
                           "--batch-size", "64", "--out", str(out), "--verbose", "0",
                           *extra], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=env)


def test_cli_trains_a_conditional_ddpm_scores_its_bound_and_exports(tmp_path):
    from export.warmup import read_warmup

    out = tmp_path / "run"
    proc = _train_cli(out, "ddpm", "--set", "num_classes=10", "--set", "num_timesteps=10",
                      "--set", "sampling_steps=4", "--set", "ddim_signatures=[2]",
                      "--set", "widths=[8]", "--set", "attention_levels=[]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    evaluation = metrics["evaluation"]
    # The bound is in the 8-bit column, like PixelCNN's exact NLL.
    assert evaluation["likelihood_kind"] == "discrete" and evaluation["num_levels"] == 256
    # One epoch of 22 steps: a loose bound, but a finite one in bits per 8-bit pixel.
    assert 0 < evaluation["test_elbo_bits_per_dim"] < 20
    assert "test_log_likelihood_nats" not in evaluation
    assert (out / "samples" / "epoch_001.png").is_file()
    assert (out / "figures" / "denoising.png").is_file()
    # Interpolations between DDIM codes, but no 2-D chart of white-noise codes.
    assert (out / "latent" / "interpolation_spherical.png").is_file()
    assert not (out / "latent" / "manifold.png").exists()
    version = out / "export" / "ddpm" / "1"
    warmed = {name for name, _ in read_warmup(str(version))}
    assert {"serving_default", "sample_ddpm", "sample_ddim_2", "elbo", "encode",
            "decode"} <= warmed
    # Every conditional signature (seed, guidance and label per row) served
    # without zoo or TFP gives the trained model's outputs.
    import keras

    model = keras.saving.load_model(str(out / "model.keras"))
    specs = {k: [s.name for s in v[1]] for k, v in model.serving_endpoints().items()}
    assert specs["serving_default"] == ["seed", "guidance", "label"]
    assert specs["sample_ddim_2"] == ["seed", "eta", "guidance", "label"]
    contract.served_like_the_model(model, str(version), tmp_path)
    # The evaluation suite samples both the run and its export (guidance 1).
    from training.evaluate import load_target

    images, labels = load_target(str(version)).sample(4, seed=0)
    assert list(labels) == [0, 1, 2, 3]
    np.testing.assert_allclose(images, model.sample(4, seed=0), atol=1e-5)
    _serve_conditional_export(out / "export", model)


def _serve_conditional_export(base, model):
    """REST and gRPC through TF Serving's protocol stand-in: per-row guidance,
    labels and eta, a batch equal to its rows one by one, and bad requests
    answered by the served graph's own checks."""
    from export.client import GrpcClient, RestClient, ServingError
    from tests.serving_stub import ServingStub

    seeds = np.array([[0, 0], [0, 1], [4, 2]], np.int32)
    inputs = {"seed": seeds, "guidance": np.array([0.0, 1.0, 2.5], np.float32),
              "label": np.array([3, 7, 7], np.int32), "eta": np.array([0, 0.5, 1], np.float32)}
    with ServingStub(str(base)) as stub:
        rest, rpc = RestClient(stub.rest_url, timeout=60), GrpcClient(stub.grpc_target, timeout=60)
        try:
            served = rest.predict("ddpm", inputs, signature="sample_ddim_2")["images"]
            np.testing.assert_allclose(
                served, model.sample_from_seeds(seeds, inputs["label"], guidance=inputs["guidance"],
                                                steps=2, eta=inputs["eta"]), atol=1e-5)
            one = {k: v[2:] for k, v in inputs.items() if k != "eta"}
            batch = rpc.predict("ddpm", {k: v for k, v in inputs.items() if k != "eta"})
            np.testing.assert_allclose(rest.predict("ddpm", one)["images"][0],
                                       batch["images"][2], atol=1e-5)
            # Columnar: the row format cannot even express unequal rows.
            with pytest.raises(ServingError, match="need the same number of rows"):
                rest.predict("ddpm", dict(one, guidance=np.ones(2, np.float32)),
                             format="columnar", validate=False)
            with pytest.raises(ServingError, match="eta must be in"):
                rpc.predict("ddpm", dict(inputs, eta=np.full(3, 2.0, np.float32)),
                            signature="sample_ddim_2", validate=False)
        finally:
            rpc.close()
