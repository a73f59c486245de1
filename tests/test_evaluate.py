"""training.evaluate end to end: run vs export parity, files, bad input, --compare."""

import json
import os
import re

import numpy as np
import pytest

from training import evaluate as E
from training import train as train_cli
from training.classifier import dataset_slug, train_classifier
from training.trainer import train

TINY_VAE = {"latent_dim": 2, "hidden_units": (16,)}
FAST = dict(num_samples=120, iwae_samples=3, parzen_validation=100, probe_train=300, log=None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    run = str(root / "vae")
    metrics = train("vae", dataset="digits", epochs=1, out=run, overrides=TINY_VAE,
                    iwae_samples=3, export=True, verbose=0)
    classifier = str(root / "classifier")
    # Through the training CLI, whose one non-generative target it is.
    assert train_cli.main(["classifier", "--dataset", "digits", "--epochs", "2", "--out",
                           classifier, "--verbose", "0"]) == 0
    with open(os.path.join(classifier, "metrics.json")) as f:
        clf = json.load(f)
    return {"root": root, "run": run, "export": metrics["export"], "classifier": clf,
            "classifier_dir": classifier}


def test_classifier_run_is_saved_with_its_accuracy(runs):
    d = runs["classifier_dir"]
    assert os.path.isfile(os.path.join(d, "model.keras"))
    saved = json.load(open(os.path.join(d, "metrics.json")))
    assert saved["test_accuracy"] == runs["classifier"]["test_accuracy"] > 0.5
    assert dataset_slug("npz:/x/y/mnist-10k.npz") == "mnist-10k"
    assert dataset_slug("digits") == "digits"
    import zoo
    assert "classifier" not in zoo.list_models()  # never a registered generative model
    with pytest.raises(Exception, match="already holds a classifier"):
        train_classifier("digits", out=d, epochs=1)


def test_export_and_run_give_the_same_numbers(runs):
    out_run, out_exp = str(runs["root"] / "ev_run"), str(runs["root"] / "ev_exp")
    kw = dict(FAST, extractor=runs["classifier_dir"], seed=3)
    a = E.evaluate_target(E.load_target(runs["run"]), "digits", out=out_run, **kw)
    b = E.evaluate_target(E.load_target(runs["export"]), "digits", out=out_exp, **kw)
    assert a["target_kind"] == "run" and b["target_kind"] == "export"
    shared = set(a["metrics"]) & set(b["metrics"])
    for key in ("fid_classifier", "kid_classifier", "precision_classifier",
                "parzen_log_likelihood_nats", "nn_distance_ratio", "linear_probe_accuracy",
                "test_elbo_nats", "test_reconstruction_mse", "inception_score_classifier"):
        assert key in shared, key
    for key in shared:
        if isinstance(a["metrics"][key], float):
            assert a["metrics"][key] == pytest.approx(b["metrics"][key], rel=1e-5, abs=1e-7), key
    # The run has the IWAE estimate; the export has no signature for it and says so.
    assert a["metrics"]["log_likelihood_estimator"] == "iwae"
    assert "iwae" in b["not_applicable"]
    # Not a conditional model, no Inception weights here: reported, not raised.
    assert "class-conditional" in a["not_applicable"]["conditional_accuracy"]
    assert "not available locally" in a["not_applicable"]["fid_inception"]
    # Files: metrics.json, report.md and the figures it links.
    saved = json.load(open(os.path.join(out_run, "metrics.json")))
    assert saved["metrics"].keys() == a["metrics"].keys()
    assert saved["metrics"]["fid_classifier"] == a["metrics"]["fid_classifier"]
    report = open(os.path.join(out_run, "report.md")).read()
    for fig in ("samples.png", "nearest_neighbours.png", "nn_distances.png"):
        assert os.path.getsize(os.path.join(out_run, fig)) > 0 and f"({fig})" in report
    assert "Theis" in report and "binary_static" in report and "classifier" in report
    # Both kinds sample the same way and say which images the sample metrics saw.
    assert a["samples"] == b["samples"] in E.SAMPLE_SOURCES.values()
    assert f"- samples: {a['samples']}" in report
    assert a["metrics"]["likelihood_kind"] == "bernoulli" and a["metrics"]["num_levels"] == 2
    assert all(s >= 0 for s in saved["seconds"].values()) and "fid_classifier" in saved["seconds"]
    assert any("120 samples" in w for w in saved["warnings"])  # too few for a stable FID

    # --compare: one table, a row per evaluation, n/a where a metric is missing.
    table = E.compare([out_run, out_exp])
    lines = table.splitlines()
    header = lines[0].split("|")
    assert "fid_classifier" in [h.strip() for h in header]
    rows = [ln for ln in lines if ln.startswith("| ") and ("ev_run" in ln or "ev_exp" in ln)]
    assert len(rows) == 2
    col = [h.strip() for h in header].index(
        "test_nll_bits_per_dim [fixed binarization (binary_static)]")
    # Cells split on unescaped pipes only: "p(x|z)" is written "p(x\\|z)".
    cells = [re.split(r"(?<!\\)\|", row) for row in rows]
    assert len(cells[0]) == len(cells[1]) == len(header)
    assert cells[1][col].strip() == "n/a"
    assert cells[0][col].strip() != "n/a"


def test_sampling_is_seeded_and_batch_invariant(runs):
    target = E.load_target(runs["export"])
    a, _ = target.sample(10, seed=5, batch_size=10)
    b, _ = target.sample(10, seed=5, batch_size=3)
    c, _ = target.sample(10, seed=6, batch_size=10)
    # Equal up to float rounding: BLAS kernels may block a batch of 3 and of
    # 10 differently (1 ulp differences seen with oneDNN on CPU).
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert not np.allclose(a, c)


def test_cli_bad_input_messages(runs, tmp_path, capsys):
    def fails(argv, *needles):
        assert E.main(argv) == 2
        err = capsys.readouterr().err
        for needle in needles:
            assert needle in err, err

    fails([runs["run"], "--dataset", "digits", "--metrics", "fid,bogus"],
          "unknown metric", "'bogus'", "linear_probe")
    fails([str(tmp_path), "--dataset", "digits"], "neither a run directory")
    fails([str(tmp_path / "missing"), "--dataset", "digits"], "does not exist")
    fails([runs["classifier_dir"], "--dataset", "digits"], "--extractor")
    np.savez(tmp_path / "big.npz", x=np.zeros((20, 12, 12), np.uint8))
    fails([runs["run"], "--dataset", f"npz:{tmp_path}/big.npz", "--metrics", "fid"],
          "(12, 12, 1)", "(8, 8, 1)")
    fails(["--compare", str(tmp_path)], "no evaluation metrics.json")


def test_cli_runs_and_writes_default_output(runs, capsys):
    out = os.path.join(runs["run"], "eval")
    assert E.main([runs["run"], "--dataset", "digits", "--metrics", "likelihood,linear_probe",
                   "--iwae-samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "linear_probe_accuracy" in printed and "test_elbo_nats" in printed
    saved = json.load(open(os.path.join(out, "metrics.json")))
    assert set(saved["seconds"]) == {"likelihood", "linear_probe"}


class _NoLikelihood:
    """What `training.likelihood.evaluate` sees of a model with no likelihood (a GAN)."""
    capabilities = ("sample",)
    num_dims = 64

    def preprocessing(self, training=True):
        return "unit"


def test_capability_surface_for_a_conditional_sampler_without_encoder(runs):
    # A stand-in for a class-conditional GAN: serving_default(seed, label)
    # returns the mean training image of the label, plus seeded noise.
    from training import datasets

    x, y = datasets.load_arrays("digits", "train")
    means = np.stack([x[y == c].mean(0) for c in range(10)]).astype(np.float32) / 255.0

    def serving_default(seed, label):
        noise = np.stack([np.random.default_rng(list(map(int, s))).normal(0, 0.02, (8, 8, 1))
                          for s in np.asarray(seed)])
        return {"images": np.clip(means[np.asarray(label)] + noise, 0, 1).astype(np.float32)}

    target = E.Target("export", "stub_cgan", runs["export"], (8, 8, 1),
                      {"serving_default": serving_default},
                      {"serving_default": ["label", "seed"]}, 10, "unit", _NoLikelihood())
    result = E.evaluate_target(target, "digits", extractor=runs["classifier_dir"], **FAST)
    values, na = result["metrics"], result["not_applicable"]
    assert values["conditional_accuracy_classifier"] > 0.8
    assert len(result["details"]["conditional_accuracy_per_class"]) == 10
    assert "encoder" in na["linear_probe"] and "likelihood" in na
    assert "fid_classifier" in values and "parzen_log_likelihood_nats" in values
    # Class means are far from every single training image; not memorized.
    assert values["nn_samples_below_test_p1"] == 0.0


def _stub_target(path, serving_default, samples_are_means=False):
    return E.Target("export", "stub", path, (8, 8, 1), {"serving_default": serving_default},
                    {"serving_default": ["seed"]}, None, "unit", _NoLikelihood(),
                    samples_are_means=samples_are_means)


def _train_images():
    from training import datasets

    return datasets.load_arrays("digits", "train")[0].astype(np.float32) / 255.0


def test_sample_metrics_use_draws_when_the_target_offers_them(runs, tmp_path):
    # A VAE-like serving_default: `images` are decoder means (here the mean
    # training digit), `draws` are training images themselves, so the
    # nearest-neighbour distances tell which of the two the metrics saw.
    train_x = _train_images()

    def serving_default(seed):
        rows = np.asarray(seed)[:, 1]
        return {"images": np.repeat(train_x.mean(0, keepdims=True), len(rows), 0),
                "draws": train_x[rows % len(train_x)]}

    out = str(tmp_path / "ev")
    kw = dict(FAST, metrics=("memorization",))
    result = E.evaluate_target(_stub_target(runs["export"], serving_default), "digits",
                               out=out, **kw)
    assert result["samples"] == "draws from p(x|z)"
    assert result["metrics"]["nn_sample_to_train_median"] < 1e-6
    assert "- samples: draws from p(x|z)" in open(os.path.join(out, "report.md")).read()
    assert json.load(open(os.path.join(out, "metrics.json")))["samples"] == result["samples"]
    # Without a draws output the means are used, and said to be means.
    means_only = _stub_target(runs["export"], lambda seed: {
        "images": serving_default(seed)["images"]}, samples_are_means=True)
    result = E.evaluate_target(means_only, "digits", **kw)
    assert result["samples"] == "decoder means"
    assert result["metrics"]["nn_sample_to_train_median"] > 0.1


def test_run_targets_of_a_vae_sample_draws(tmp_path):
    """A VAE run is scored on draws x ~ p(x|z), exactly those its export serves."""
    from tests import contract

    model = contract.build("vae")
    path = str(tmp_path / "run")
    os.makedirs(path)
    model.save(os.path.join(path, "model.keras"))
    with open(os.path.join(path, "run.json"), "w") as f:
        json.dump({"model": "vae"}, f)
    target = E.load_target(path)
    images, _ = target.sample(6, seed=4, batch_size=4)
    assert target.sample_source == "draws from p(x|z)"
    # Bernoulli draws are binary; the decoder means are not.
    assert set(np.unique(images)) <= {0.0, 1.0}
    np.testing.assert_array_equal(images, model.sample(6, seed=4, draw=True))


def test_parzen_bandwidth_is_chosen_on_held_out_test_images(runs, monkeypatch):
    from training import datasets
    from training import metrics as M

    seen = {}
    select, score = M.select_parzen_bandwidth, M.parzen_log_likelihood
    monkeypatch.setattr(M, "select_parzen_bandwidth", lambda v, c, *a, **k: (
        seen.setdefault("validation", v), select(v, c, *a, **k))[1])
    monkeypatch.setattr(M, "parzen_log_likelihood", lambda d, c, s, *a, **k: (
        seen.setdefault("scored", d), score(d, c, s, *a, **k))[1])
    train_x = _train_images()
    target = _stub_target(runs["export"], lambda seed: {
        "images": train_x[np.asarray(seed)[:, 1] % len(train_x)]})
    result = E.evaluate_target(target, "digits", metrics=("parzen",), **FAST)
    test_x = datasets.load_arrays("digits", "test")[0].astype(np.float64) / 255.0
    # Bandwidth images and scored images partition the test split: none was
    # trained on, none is scored with a bandwidth fitted to it.
    assert len(seen["validation"]) == FAST["parzen_validation"]
    np.testing.assert_allclose(np.concatenate([seen["scored"], seen["validation"]]),
                               test_x.reshape(len(test_x), -1), atol=1e-6)
    assert "held-out part of the test split" in result["details"]["parzen_bandwidth_data"]
    assert result["details"]["parzen_scored_images"] == len(test_x) - FAST["parzen_validation"]


def _eval_dir(root, name, **values):
    path = root / name
    path.mkdir()
    (path / "metrics.json").write_text(json.dumps(
        {"model": name, "dataset": "digits", "num_samples": 10, "metrics": values,
         "not_applicable": {}}))
    return str(path)


def test_compare_never_puts_bits_per_dim_of_different_data_in_one_column(tmp_path, capsys):
    binary = _eval_dir(tmp_path, "vae", test_nll_bits_per_dim=0.5, likelihood_kind="bernoulli",
                       num_levels=2, evaluation_data="fixed binarization (binary_static)")
    levels = _eval_dir(tmp_path, "pixelcnn_pp", test_nll_bits_per_dim=3.5,
                       likelihood_kind="discrete", num_levels=256, evaluation_data="8-bit levels")
    lines = E.compare([binary, levels]).splitlines()
    header = [h.strip() for h in lines[0].split("|")]
    rows = {ln.split("|")[2].strip(): [c.strip() for c in ln.split("|")] for ln in lines[2:4]}
    assert "test_nll_bits_per_dim" not in header
    bits_binary = header.index("test_nll_bits_per_dim [fixed binarization (binary_static)]")
    bits_levels = header.index("test_nll_bits_per_dim [8-bit levels]")
    assert (rows["vae"][bits_binary], rows["vae"][bits_levels]) == ("0.5", "n/a")
    assert (rows["pixelcnn_pp"][bits_binary], rows["pixelcnn_pp"][bits_levels]) == ("n/a", "3.5")
    # Bits/dim that do not say what data they are of are refused: one error line.
    legacy = _eval_dir(tmp_path, "old", test_nll_bits_per_dim=-6.67, evaluation_data="unit")
    with pytest.raises(E.EvaluationError, match="re-run"):
        E.compare([binary, legacy])
    assert E.main(["--compare", binary, legacy]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "likelihood kind" in err


def test_compare_puts_flows_in_the_8_bit_column_marked_as_bounds(tmp_path):
    flow = _eval_dir(tmp_path, "glow", test_nll_bits_per_dim=1.2, likelihood_kind="density",
                     num_levels=256, evaluation_data="uniformly dequantized 8-bit")
    pixel = _eval_dir(tmp_path, "pixelcnn", test_nll_bits_per_dim=1.1,
                      likelihood_kind="discrete", num_levels=256, evaluation_data="8-bit levels")
    binary = _eval_dir(tmp_path, "nade", test_nll_bits_per_dim=0.2, likelihood_kind="bernoulli",
                       num_levels=2, evaluation_data="fixed binarization (binary_static)")
    lines = E.compare([flow, pixel, binary]).splitlines()
    header = [h.strip() for h in lines[0].split("|")]
    rows = {ln.split("|")[2].strip(): [c.strip() for c in ln.split("|")] for ln in lines[2:5]}
    column = header.index("test_nll_bits_per_dim [8-bit levels]")
    assert rows["glow"][column] == "1.2 (dequantized bound)"
    assert rows["pixelcnn"][column] == "1.1"
    assert rows["nade"][column] == "n/a"
    assert not any("uniformly dequantized" in h for h in header)


@pytest.mark.slow
def test_inception_extractor_loads_a_local_weights_file(tmp_path):
    import keras

    missing, reason = E.load_inception_extractor(str(tmp_path / "none_notop.h5"))
    assert missing is None and "not available locally" in reason
    # Untrained weights in the Keras applications layout stand in for the
    # real file, which cannot be downloaded here.
    net = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                         input_shape=(299, 299, 3))
    path = str(tmp_path / "inception_v3_notop.weights.h5")
    net.save_weights(path)
    extractor, reason = E.load_inception_extractor(path)
    assert reason is None and not extractor.has_probabilities
    images = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype(np.float32)
    features, probabilities = extractor(images, batch_size=2)
    assert features.shape == (3, 2048) and probabilities is None
    expected = net(keras.ops.image.resize(np.repeat(images, 3, -1), (299, 299)) * 2 - 1)
    np.testing.assert_allclose(features, np.asarray(expected), rtol=1e-4, atol=1e-5)
