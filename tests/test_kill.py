"""SIGKILL at chosen points of a run, then the same command again (issue #12).

Each case kills a 3-epoch run on the bundled digits at one point
(`tests/kill_at.py`) and asserts the resume guarantees: at most one epoch
lost, every epoch's history row and sample grid present exactly once, rows
written before the kill kept as they were, exactly one export, no visible
partial version and no temporary folder left after the second command.
"""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests import contract
from training.checkpoint import EpochCheckpoint, finished_epochs, trim_history

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 3
ARGS = ["vae", "--epochs", str(EPOCHS), "--batch-size", "256", "--verbose", "0",
        "--iwae-samples", "0", "--set", "latent_dim=2", "--set", "hidden_units=(16,)"]
SIGKILL = -9


def _rows(out):
    path = os.path.join(out, "history.csv")
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _run(out, point=None):
    entry = ["-m", "tests.kill_at", point] if point else ["-m", "training.train"]
    return subprocess.run([sys.executable, *entry, *ARGS, "--out", out], cwd=REPO,
                          capture_output=True, text=True, timeout=400)


@pytest.mark.parametrize("point, checkpointed", [
    ("first_epoch", 0),
    ("before_checkpoint", 1),
    ("after_checkpoint", 2),
    ("export_written", None),
    ("export_published", None),
])
def test_a_kill_at_any_point_loses_at_most_one_epoch_and_nothing_else(
        tmp_path, point, checkpointed):
    out = str(tmp_path / "run")
    killed = _run(out, point)
    assert killed.returncode == SIGKILL, killed.stderr[-2000:]
    before = _rows(out)
    if checkpointed is not None:
        assert finished_epochs(os.path.join(out, "backup")) == checkpointed
        # At most one epoch's work is lost: the one being trained or saved.
        assert len(before) - checkpointed <= 1
        assert json.load(open(os.path.join(out, "run.json")))["status"] == "running"

    again = _run(out)
    assert again.returncode == 0, again.stderr[-3000:]
    after = _rows(out)
    assert [int(r["epoch"]) for r in after] == list(range(EPOCHS))
    # Rows of checkpointed epochs are the ones written before the kill.
    kept = checkpointed if checkpointed is not None else EPOCHS
    assert after[:kept] == before[:kept]
    samples = sorted(os.listdir(os.path.join(out, "samples")))
    assert samples == [f"epoch_{e:03d}.png" for e in range(1, EPOCHS + 1)]
    assert json.load(open(os.path.join(out, "run.json")))["status"] == "complete"
    assert not os.path.exists(os.path.join(out, "backup"))
    model_dir = os.path.join(out, "export", "vae")
    assert os.listdir(model_dir) == ["1"]
    version = os.path.join(model_dir, "1")
    assert os.path.isfile(os.path.join(version, "saved_model.pb"))
    assert os.path.isdir(os.path.join(version, "variables"))


def test_trim_history_drops_the_rows_of_unmarked_epochs(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.5\n")
    trim_history(str(path), 2)
    assert path.read_text().splitlines() == ["epoch,loss", "0,3.0", "1,2.0"]
    trim_history(str(path), 0)
    assert path.read_text().splitlines() == ["epoch,loss"]
    trim_history(str(tmp_path / "missing.csv"), 1)
    assert not (tmp_path / "missing.csv").exists()


def test_the_checkpoint_resumes_from_the_chiefs_folder_and_skips_partial_files(tmp_path):
    chief, worker = str(tmp_path / "chief"), str(tmp_path / "worker")
    model = contract.build("vae")
    model.compile(**model.make_optimizers(1e-3))
    model.fit(contract.batches(model), epochs=1, verbose=0)
    saver = EpochCheckpoint(chief)
    saver.set_model(model)
    saver.on_epoch_end(4)
    # The worker's own, older checkpoint, and a partial file of a killed save.
    own = EpochCheckpoint(worker)
    own.set_model(contract.build("vae", seed=3))
    own.model.compile(**model.make_optimizers(1e-3))
    own.on_epoch_end(1)
    partial = os.path.join(worker, ".tmp-123-epoch-00003.weights.h5")
    open(partial, "wb").write(b"truncated")
    assert finished_epochs(worker) == 2 and finished_epochs(chief) == 5

    fresh = contract.build("vae", seed=7)
    fresh.compile(**fresh.make_optimizers(1e-3))
    restore = EpochCheckpoint(worker, restore_from=[chief, worker])
    restore.set_model(fresh)
    restore.on_train_begin()
    assert fresh._initial_epoch == restore.restored_epoch == 5
    assert not os.path.exists(partial)
    assert int(fresh.optimizer.iterations) == int(model.optimizer.iterations) > 0
    for a, b in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Saving again keeps only the newest weights file beside latest.json.
    restore.on_epoch_end(5)
    assert sorted(os.listdir(worker)) == ["epoch-00006.weights.h5", "latest.json"]
