"""training.evaluate end to end: run vs export parity, files, bad input, --compare."""

import json
import os

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
    assert all(s >= 0 for s in saved["seconds"].values()) and "fid_classifier" in saved["seconds"]
    assert any("120 samples" in w for w in saved["warnings"])  # too few for a stable FID

    # --compare: one table, a row per evaluation, n/a where a metric is missing.
    table = E.compare([out_run, out_exp])
    lines = table.splitlines()
    header = lines[0].split("|")
    assert "fid_classifier" in [h.strip() for h in header]
    rows = [ln for ln in lines if ln.startswith("| ") and ("ev_run" in ln or "ev_exp" in ln)]
    assert len(rows) == 2
    col = [h.strip() for h in header].index("test_nll_bits_per_dim")
    assert rows[1].split("|")[col].strip() == "n/a"
    assert rows[0].split("|")[col].strip() != "n/a"


def test_sampling_is_seeded_and_batch_invariant(runs):
    target = E.load_target(runs["export"])
    a, _ = target.sample(10, seed=5, batch_size=10)
    b, _ = target.sample(10, seed=5, batch_size=3)
    c, _ = target.sample(10, seed=6, batch_size=10)
    np.testing.assert_array_equal(a, b)
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
    """What `training.evaluation.evaluate` sees of a model with no likelihood (a GAN)."""
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
