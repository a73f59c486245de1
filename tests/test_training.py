"""The training CLI: artifacts, clear errors, NaN handling and resume."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zoo
from training import train as train_cli
from zoo.vae.base import VAEBase

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "latent_dim=2", "--set", "hidden_units=(16,)", "--iwae-samples", "5"]


def _epochs(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "vae")
    assert train_cli.main(["vae", "--epochs", "2", "--out", out, "--verbose", "0"] + TINY) == 0
    return out


def test_run_directory_holds_every_artifact(finished_run):
    out = finished_run
    for path in ("model.keras", "samples/epoch_001.png", "samples/epoch_002.png",
                 "metrics.json", "run.json", "history.csv",
                 "latent/manifold.png", "latent/interpolation_spherical.png",
                 "export/vae/1/saved_model.pb", "export/vae/1/metadata.json"):
        assert os.path.isfile(os.path.join(out, path)), path
    assert not os.path.exists(os.path.join(out, "backup"))
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    ev = metrics["evaluation"]
    assert ev["evaluation_mode"] == "binary_static" and ev["iwae_samples"] == 5
    # Each row says what its bits/dim are of.
    assert (ev["likelihood_kind"], ev["num_levels"]) == ("bernoulli", 2)
    assert ev["evaluation_data"] == "fixed binarization (binary_static)"
    assert np.isfinite(ev["test_elbo_nats"]) and ev["test_elbo_bits_per_dim"] > 0
    assert len(metrics["history"]["loss"]) == 2
    assert metrics["train_images_per_second"] > 0
    assert json.load(open(os.path.join(out, "run.json")))["status"] == "complete"
    assert _epochs(out) == [0, 1]
    # TensorBoard: scalars for train/validation and the sample grid images.
    tags = set()
    for root, _, files in os.walk(os.path.join(out, "logs")):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                tags.update(v.tag for v in event.summary.value)
    assert {"samples", "reconstructions"} <= tags, tags
    assert any("loss" in t for t in tags), tags


def test_help_lists_every_registered_model():
    proc = subprocess.run([sys.executable, "-m", "training.train", "--help"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for name in zoo.list_models():
        assert f"\n  {name} " in proc.stdout, name


def test_unknown_model_prints_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "training.train", "vea", "--out", str(tmp_path / "r")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown model 'vea'" in proc.stderr and "Did you mean vae" in proc.stderr


def _write(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("case", ["dataset", "set_key", "missing_npz", "corrupt_npz",
                                  "rank", "epochs"])
def test_bad_input_gives_clear_error(case, tmp_path, capsys):
    out = str(tmp_path / "run")
    args = {
        "dataset": (["--dataset", "mnsit"], "mnist"),
        "set_key": (["--set", "latnet_dim=3"], "latnet_dim"),
        "missing_npz": (["--dataset", f"npz:{tmp_path}/nope.npz"], "nope.npz"),
        "corrupt_npz": (["--dataset", "npz:" + _write(tmp_path / "bad.npz", b"not a zip")],
                        "bad.npz"),
        "rank": (["--dataset", f"npz:{tmp_path}/rank.npz"], "shape"),
        "epochs": (["--epochs", "0"], "epochs"),
    }[case]
    np.savez(tmp_path / "rank.npz", x=np.zeros((5, 8), np.uint8))
    assert train_cli.main(["vae", "--out", out] + args[0]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and args[1] in err, err
    assert len(err.strip().splitlines()) <= 3, err


def test_finished_run_is_never_overwritten_silently(finished_run, capsys):
    path = os.path.join(finished_run, "model.keras")
    before = (os.path.getmtime(path), open(path, "rb").read())
    assert train_cli.main(["vae", "--epochs", "1", "--out", finished_run]) == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert (os.path.getmtime(path), open(path, "rb").read()) == before


def test_foreign_directory_is_not_used(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert train_cli.main(["vae", "--out", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_nan_loss_stops_clearly_then_resumes(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    args = ["vae", "--epochs", "3", "--batch-size", "256", "--out", out,
            "--verbose", "0"] + TINY
    original = VAEBase.loss_terms
    steps_per_epoch = 6  # 1437 training digits / 256

    def nan_in_epoch_two(self, images, labels, training):
        terms = original(self, images, labels, training)
        bad = self.optimizer.iterations >= steps_per_epoch
        return dict(terms, loss=tf.where(bad, np.nan, terms["loss"]))

    monkeypatch.setattr(VAEBase, "loss_terms", nan_in_epoch_two)
    assert train_cli.main(args) == 2
    err = capsys.readouterr().err
    assert "non-finite" in err and "epoch 2" in err and "backup" in err, err
    assert os.path.isfile(os.path.join(out, "samples", "epoch_001.png"))
    assert not os.path.exists(os.path.join(out, "samples", "epoch_002.png"))
    assert not os.path.exists(os.path.join(out, "model.keras"))
    assert os.path.isdir(os.path.join(out, "backup"))
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["status"] == "failed" and "NonFinite" not in run["error"] and \
        "non-finite" in run["error"], run

    monkeypatch.setattr(VAEBase, "loss_terms", original)
    assert train_cli.main(args) == 0
    assert _epochs(out) == [0, 1, 2]  # epoch 1 resumed, not restarted


def test_resume_refuses_changed_settings(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"model": "vae", "status": "running",
                                              "batch_size": 1}))
    assert train_cli.main(["vae", "--out", str(out)]) == 2
    assert "unfinished run with other settings" in capsys.readouterr().err


def test_trains_on_a_tfds_dataset(tmp_path):
    import tensorflow_datasets as tfds

    from training.trainer import train

    with tfds.testing.mock_data(num_examples=40):
        metrics = train("conv_vae", dataset="mnist", epochs=1, batch_size=16,
                        out=str(tmp_path / "run"), export=False, verbose=0,
                        iwae_samples=2, overrides=dict(latent_dim=2, filters=(4,),
                                                       dense_units=8))
    assert np.isfinite(metrics["evaluation"]["test_elbo_nats"])
    config = json.load(open(tmp_path / "run" / "run.json"))["config"]
    assert config["image_shape"] == [28, 28, 1]


def _files(root):
    """{relative path: bytes} of every file under root."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_failing_overwrite_keeps_the_finished_run(tmp_path):
    """Issue #12, defect 2: the label check runs before --overwrite deletes."""
    out = tmp_path / "run"
    assert train_cli.main(["vae", "--epochs", "1", "--out", str(out), "--no-export",
                           "--verbose", "0"] + TINY) == 0
    before = _files(out)
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, x=np.random.default_rng(0).integers(0, 256, (60, 8, 8), np.uint8))
    proc = subprocess.run(
        [sys.executable, "-m", "training.train", "cgan", "--dataset", f"npz:{unlabelled}",
         "--out", str(out), "--overwrite", "--epochs", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cgan is class-conditional and needs a labelled dataset" in proc.stderr
    assert _files(out) == before


def test_conditional_models_take_the_class_count_of_the_dataset(tmp_path):
    """Issue #12, defect 4: 12 classes in the data, cgan's default of 10."""
    rng = np.random.default_rng(0)
    path = tmp_path / "twelve.npz"
    np.savez(path, x=rng.integers(0, 256, (96, 8, 8), np.uint8),
             y=np.arange(96) % 12)
    out = tmp_path / "cgan"
    args = ["cgan", "--dataset", f"npz:{path}", "--epochs", "1", "--no-export",
            "--verbose", "0", "--set", "latent_dim=4", "--set", "hidden_units=(16,)"]
    assert train_cli.main(args + ["--out", str(out)]) == 0
    assert json.load(open(out / "run.json"))["config"]["num_classes"] == 12
    proc = subprocess.run([sys.executable, "-m", "training.train", *args, "--out",
                           str(tmp_path / "too_few"), "--set", "num_classes=10"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "has 12 classes but cgan was given num_classes=10" in proc.stderr
    assert not (tmp_path / "too_few").exists()


@pytest.mark.parametrize("source", ["npz", "dir"])
def test_a_small_dataset_finishes_its_run(tmp_path, source):
    """Issue #12, defect 1: fewer than 16 test images (here 12 and 8)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    if source == "npz":
        np.savez(tmp_path / "small.npz", x=rng.integers(0, 256, (60, 8, 8), np.uint8))
        spec = f"npz:{tmp_path / 'small.npz'}"
    else:
        folder = tmp_path / "images"
        folder.mkdir()
        for i in range(40):  # grey and RGBA files mixed
            mode = "L" if i % 2 else "RGBA"
            pixels = rng.integers(0, 256, (8, 8) if mode == "L" else (8, 8, 4), np.uint8)
            Image.fromarray(pixels, mode).save(folder / f"{i:02d}.png")
        spec = f"dir:{folder}"
    out = tmp_path / "run"
    assert train_cli.main(["vae", "--dataset", spec, "--epochs", "1", "--out", str(out),
                           "--verbose", "0", "--no-export"] + TINY) == 0
    assert json.load(open(out / "run.json"))["status"] == "complete"
    assert (out / "latent" / "interpolation_linear.png").is_file()


@pytest.mark.parametrize("args,message", [
    (["--iwae-samples", "-5"], "iwae_samples must be an integer >= 0"),
    (["--out", "FILE"], "is a file, not a folder"),
])
def test_more_bad_arguments_are_one_clear_error(tmp_path, capsys, args, message):
    """Issue #12, defects 6 and 9."""
    target = tmp_path / "a_file"
    target.write_text("keep me")
    args = [str(target) if a == "FILE" else a for a in args]
    argv = ["vae", "--epochs", "1", "--verbose", "0"]
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "run")]
    assert train_cli.main(argv + args) == 2
    assert message in capsys.readouterr().err
    assert target.read_text() == "keep me"

