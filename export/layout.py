"""Where things live on disk: run directories, evaluations, exports, version folders.

Every file and folder name the trainer, the evaluator and the exporter agree
on is defined here, and `versions` is the one place that decides what counts
as an exported version. `training` imports this module (imports go downward);
`zoo` never needs it.

A run directory (`training.train`):
  run.json, model.keras, history.csv, metrics.json, samples/, latent/,
  figures/, logs/ (logs/images/), backup/ (while unfinished), eval/, export/

An evaluation directory (`training.evaluate`):
  metrics.json, report.md, samples.png, nearest_neighbours.png,
  nn_distances.png; `--compare` writes compare.md

A model base directory (`export`, TF Serving):
  BASE/NAME/VERSION/ with saved_model.pb, metadata.json, README.md (the model
  card) and assets.extra/tf_serving_warmup_requests; BASE itself receives
  models.config, batching_parameters.txt and docker-compose.yml.
"""

import os
import re

# ---------------------------------------------------------- run directory
RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
SAMPLES_DIR = "samples"
LATENT_DIR = "latent"
FIGURES_DIR = "figures"
LOGS_DIR = "logs"
LOG_IMAGES_DIR = os.path.join(LOGS_DIR, "images")
BACKUP_DIR = "backup"
EVAL_DIR = "eval"
EXPORT_DIR = "export"

# ----------------------------------------------------- evaluation directory
REPORT_FILE = "report.md"
COMPARE_FILE = "compare.md"
EVAL_FIGURES = {"samples": "samples.png", "nearest_neighbours": "nearest_neighbours.png",
                "nn_distances": "nn_distances.png"}

# ------------------------------------------------------ export / serving
SAVED_MODEL_FILE = "saved_model.pb"
VARIABLES_INDEX = os.path.join("variables", "variables.index")
METADATA_FILE = "metadata.json"
CARD_FILE = "README.md"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
SERVING_CONFIG_FILE = "models.config"
BATCHING_FILE = "batching_parameters.txt"
COMPOSE_FILE = "docker-compose.yml"

# Canonical positive integers only: "01" or "²" (str.isdigit accepts it)
# would name a folder that str(int(name)) does not find again.
_VERSION = re.compile(r"[1-9][0-9]*")


def epoch_samples_file(epoch):
    """Name of the sample grid after `epoch` (counted from 1) in samples/."""
    return f"epoch_{epoch:03d}.png"


def is_run_dir(path):
    """True when `path` holds a trained model (model.keras)."""
    return os.path.isfile(os.path.join(path, MODEL_FILE))


def is_version_dir(path):
    """True when `path` is a complete SavedModel: saved_model.pb and the
    variables index (TF writes one even for a model without variables), so
    a copy that lost `variables/` is not served."""
    return (os.path.isfile(os.path.join(path, SAVED_MODEL_FILE))
            and os.path.isfile(os.path.join(path, VARIABLES_INDEX)))


def versions(model_dir):
    """Sorted complete versions under a model directory, e.g. [1, 2, 5].

    A version is a folder named by a positive integer that holds
    saved_model.pb and variables/variables.index. Half-written exports
    (hidden temporary folders), stray files and numeric folders without a
    complete SavedModel are not versions.

    Args:
      model_dir: BASE/NAME; a missing directory has no versions.
    """
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir)
                  if _VERSION.fullmatch(name) and is_version_dir(os.path.join(model_dir, name)))


def latest_version(model_dir):
    """The newest complete version under `model_dir`, or None."""
    found = versions(model_dir)
    return found[-1] if found else None


def version_dir(model_dir, version=None):
    """Path of `version` under `model_dir` (default: the newest complete one).

    Returns None when `version` is None and there is no complete version.
    """
    if version is None:
        version = latest_version(model_dir)
        if version is None:
            return None
    return os.path.join(model_dir, str(int(version)))


def next_version(model_dir):
    """The version a new export gets: 1 + the newest complete version.

    A leftover numeric folder without a SavedModel is neither counted nor
    reused: the number after it is taken, so an export never lands in it.
    """
    version = (latest_version(model_dir) or 0) + 1
    while os.path.exists(os.path.join(model_dir, str(version))):
        version += 1
    return version


def model_versions(base):
    """{model name: sorted complete versions} for the model folders under `base`."""
    found = {}
    for name in sorted(os.listdir(base)):
        if not name.startswith(".") and os.path.isdir(os.path.join(base, name)):
            model = versions(os.path.join(base, name))
            if model:
                found[name] = model
    return found
