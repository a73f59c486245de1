"""Nothing lost: exports idempotent per run, stale temporaries cleaned, failures
recorded, non-finite weights never saved or exported (issue #12)."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from export import ExportError, export_model
from export.saved_model import non_finite_weights, remove_stale_temporaries
from tests import contract
from training import train as train_cli
from training.callbacks import NaNGuard, NonFiniteLossError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "latent_dim=2", "--set", "hidden_units=(16,)", "--iwae-samples", "2",
        "--verbose", "0"]


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _versions(model_dir):
    return sorted(e for e in os.listdir(model_dir) if not e.startswith("."))


def test_a_run_resumed_after_its_export_does_not_export_again(tmp_path):
    out = str(tmp_path / "run")
    args = ["vae", "--epochs", "1", "--out", out] + TINY
    assert train_cli.main(args) == 0
    model_dir = os.path.join(out, "export", "vae")
    assert _versions(model_dir) == ["1"]
    # A kill after the version was published but before run.json said so,
    # and the leftovers of a killed export (dead process) and a live one.
    run_json = os.path.join(out, "run.json")
    run = json.load(open(run_json))
    json.dump(dict(run, status="running"), open(run_json, "w"))
    host = socket.gethostname()
    stale = os.path.join(model_dir, f".tmp-{host}-{_dead_pid()}-abc")
    live = os.path.join(model_dir, f".tmp-{host}-{os.getpid()}-def")
    for folder in (stale, live):
        os.makedirs(os.path.join(folder, "model"))
    assert train_cli.main(args) == 0
    assert _versions(model_dir) == ["1"]
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["export"].endswith(os.path.join("vae", "1"))
    assert not os.path.exists(stale) and os.path.isdir(live)
    meta = json.load(open(os.path.join(model_dir, "1", "metadata.json")))
    assert meta["source_run"].endswith("@" + run["created"])
    assert len(meta["source_model_sha256"]) == 64
    # An explicit `python -m export` still writes a new version.
    from export import export_run

    assert export_run(out, os.path.join(out, "export")).endswith("2")


@pytest.mark.slow
def test_a_killed_export_leaves_no_temporary_folder_behind_the_next_one(tmp_path):
    out = str(tmp_path / "run")
    assert train_cli.main(["vae", "--epochs", "1", "--out", out, "--no-export"] + TINY) == 0
    base = str(tmp_path / "models")
    cmd = [sys.executable, "-m", "export", out, "--base", base]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not glob.glob(os.path.join(base, "vae", ".tmp-*", "model", "*")):
        assert proc.poll() is None and time.time() < deadline, "export ended early"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert glob.glob(os.path.join(base, "vae", ".tmp-*"))
    assert subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=300).returncode == 0
    assert os.listdir(os.path.join(base, "vae")) == ["1"]


def test_remove_stale_temporaries_keeps_other_machines_and_old_names(tmp_path):
    for name in (f".tmp-otherhost-{_dead_pid()}-x", ".tmp-abc123", "3"):
        os.makedirs(tmp_path / name)
    assert remove_stale_temporaries(str(tmp_path)) == []
    assert remove_stale_temporaries(str(tmp_path / "missing")) == []


def test_non_finite_weights_are_never_exported_and_stop_training(tmp_path):
    model = contract.build("vae")
    assert non_finite_weights(model) == []
    weight = model.trainable_weights[0]
    weight.assign(np.full(weight.shape, np.nan, np.float32))
    assert non_finite_weights(model) == [weight.path]
    with pytest.raises(ExportError, match="non-finite weights"):
        export_model(model, str(tmp_path / "export"))
    assert not os.path.exists(tmp_path / "export")
    guard = NaNGuard()
    guard.set_model(model)
    with pytest.raises(NonFiniteLossError, match="non-finite weights .* after epoch 3"):
        guard.on_epoch_end(2)


def test_nan_in_the_first_epoch_says_no_epoch_finished(tmp_path, monkeypatch, capsys):
    from zoo.vae.base import VAEBase

    original = VAEBase.loss_terms

    def nan_loss(self, images, labels, training):
        terms = original(self, images, labels, training)
        return dict(terms, loss=terms["loss"] * np.nan)

    monkeypatch.setattr(VAEBase, "loss_terms", nan_loss)
    out = str(tmp_path / "run")
    assert train_cli.main(["vae", "--epochs", "2", "--out", out] + TINY) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "No epoch finished" in err, err
    assert json.load(open(os.path.join(out, "run.json")))["status"] == "failed"


def test_out_of_memory_and_unwritable_out_are_one_error_line(tmp_path, monkeypatch, capsys):
    import keras

    def oom(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(keras.Model, "fit", oom)
    out = str(tmp_path / "run")
    assert train_cli.main(["vae", "--epochs", "1", "--out", out] + TINY) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "out of memory" in err and "--batch-size" in err
    assert err.count("\n") == 1, err
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["status"] == "failed" and "ResourceExhausted" in run["error"]
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "makedirs", refuse)
    assert train_cli.main(["vae", "--out", str(tmp_path / "locked")] + TINY) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "cannot write" in err and "Permission denied" in err
