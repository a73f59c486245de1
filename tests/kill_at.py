"""Runs the training CLI and SIGKILLs itself at a chosen point.

    python -m tests.kill_at POINT TRAIN_ARGS...

A real SIGKILL (no cleanup, no `finally`), placed exactly rather than by
timing, for the kill tests of `tests/test_kill.py`. Epochs count from 0.
"""

import os
import signal
import sys


def _die():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner, name, before=None, after=None):
    """Replaces `owner.name` with a version that may die before or after it."""
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        if before and before(*args, **kwargs):
            _die()
        result = original(*args, **kwargs)
        if after and after(*args, **kwargs):
            _die()
        return result

    setattr(owner, name, wrapped)


def _epoch_is(n):
    return lambda self, epoch, logs=None: epoch == n


def arm(point):
    from export import saved_model
    from training.callbacks import Throughput
    from training.checkpoint import EpochCheckpoint

    if point == "first_epoch":
        # Mid-epoch, before anything of the run was checkpointed.
        _wrap(Throughput, "on_train_batch_end", after=lambda self, batch, logs=None: batch == 1)
    elif point == "before_checkpoint":
        # Epoch 1's history row and grid are written, its checkpoint is not.
        _wrap(EpochCheckpoint, "on_epoch_end", before=_epoch_is(1))
    elif point == "after_checkpoint":
        _wrap(EpochCheckpoint, "on_epoch_end", after=_epoch_is(1))
    elif point == "export_written":
        # The SavedModel is complete in its hidden folder, not yet published.
        _wrap(saved_model, "_publish", before=lambda *a, **k: True)
    elif point == "export_published":
        # The version is published, run.json does not say so yet.
        _wrap(saved_model, "_publish", after=lambda *a, **k: True)
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    arm(sys.argv[1])
    from training import train

    sys.exit(train.main(sys.argv[2:]))
