"""The epoch checkpoint that marks an epoch done, written atomically.

Keras' `BackupAndRestore` writes the weights and then the epoch number into
two files in place: a kill between them (or inside either) leaves a backup
whose weights and epoch disagree, and under multi-worker training each worker
may resume from a different epoch, after which one ends early and the other
waits on its collectives forever. Here an epoch's weights go to a new file,
and a small `latest.json` naming it is replaced atomically afterwards, so a
kill at any point leaves the previous complete checkpoint or the new one.

Listed last among the callbacks, it runs after the epoch's history row and
sample grid are written: an epoch the checkpoint marks done has all its
artefacts. An epoch whose artefacts were written but whose checkpoint was not
is trained again, and `trim_history` drops its history row first so each
epoch has exactly one.
"""

import csv
import glob
import json
import os

import keras

LATEST = "latest.json"
# What keras.callbacks.BackupAndRestore wrote; runs killed before this module
# existed still resume from it.
_KERAS_WEIGHTS, _KERAS_METADATA = "latest.weights.h5", "training_metadata.json"


def _weights_name(epochs_done):
    return f"epoch-{epochs_done:05d}.weights.h5"


def finished_epochs(*backup_dirs):
    """Number of epochs the checkpoint in the first of `backup_dirs` that
    holds one marks done (0 if none does)."""
    found = _first(backup_dirs)
    return found[0] if found else 0


def _first(backup_dirs):
    for folder in backup_dirs:
        found = _find(folder)
        if found:
            return found
    return None


def _find(backup_dir):
    """(epochs done, weights file) of the checkpoint in `backup_dir`, or None."""
    latest = os.path.join(backup_dir, LATEST)
    if os.path.isfile(latest):
        with open(latest) as f:
            state = json.load(f)
        return int(state["epoch"]), os.path.join(backup_dir, state["weights"])
    legacy = os.path.join(backup_dir, _KERAS_METADATA)
    if os.path.isfile(legacy) and os.path.isfile(os.path.join(backup_dir, _KERAS_WEIGHTS)):
        with open(legacy) as f:
            return int(json.load(f)["epoch"]), os.path.join(backup_dir, _KERAS_WEIGHTS)
    return None


def _replace_json(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def trim_history(history_csv, epochs_done):
    """Drops the rows of `history_csv` for epochs at or past `epochs_done`:
    epochs whose row was written but whose checkpoint was not, to be rerun."""
    if not os.path.isfile(history_csv):
        return
    with open(history_csv, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    epoch_col = rows[0].index("epoch") if "epoch" in rows[0] else None
    if epoch_col is None:
        return
    kept = [r for r in rows[1:] if r and int(float(r[epoch_col])) < epochs_done]
    if len(kept) == len(rows) - 1:
        return
    tmp = f"{history_csv}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([rows[0], *kept])
    os.replace(tmp, history_csv)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the weights (with the optimizers' state) at each epoch end and
    restores them, and the epoch to go on from, when training begins.

    Args:
      backup_dir: folder this process writes its checkpoints to.
      restore_from: folders to resume from, first found wins; defaults to
        `backup_dir`. Under multi-worker training the other workers list the
        chief's folder first, so that every worker resumes from the same
        epoch (on a file system they share, as `BackupAndRestore` requires).
    """

    def __init__(self, backup_dir, restore_from=None):
        super().__init__()
        self.backup_dir = backup_dir
        self.restore_from = list(restore_from or [backup_dir])
        self.restored_epoch = 0

    def on_train_begin(self, logs=None):
        # Partial files of a killed process; only one process writes a folder.
        for stale in glob.glob(os.path.join(self.backup_dir, ".tmp-*")):
            os.remove(stale)
        found = _first(self.restore_from)
        if not found:
            return
        epoch, weights = found
        for optimizer, variables in _optimizers(self.model):
            if not optimizer.built:
                # Optimizer slots must exist before their saved values load.
                optimizer.build(variables)
        self.model.load_weights(weights)
        self.model._initial_epoch = self.restored_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = _weights_name(epoch + 1)
        # The name must end in .weights.h5 for Keras; the dot hides it from
        # `_find` until it is complete.
        tmp = os.path.join(self.backup_dir, f".tmp-{os.getpid()}-{name}")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, os.path.join(self.backup_dir, name))
        _replace_json(os.path.join(self.backup_dir, LATEST), {"epoch": epoch + 1,
                                                              "weights": name})
        for old in glob.glob(os.path.join(self.backup_dir, "*.weights.h5")):
            if os.path.basename(old) != name:
                os.remove(old)
        legacy = os.path.join(self.backup_dir, _KERAS_METADATA)
        if os.path.exists(legacy):
            os.remove(legacy)


def _optimizers(model):
    """(optimizer, variables it updates) pairs of a compiled model."""
    if getattr(model, "d_optimizer", None) is not None:
        return [(model.d_optimizer, model.d_variables), (model.g_optimizer, model.g_variables)]
    if getattr(model, "optimizer", None) is not None:
        return [(model.optimizer, model.trainable_variables)]
    return []
