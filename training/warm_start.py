"""Starting a run from the weights of a finished one (`--init-from RUN_DIR`).

The second stage of a two-stage model is the main use: `vq_vae` trains its
autoencoder in one run and its prior in a second run that starts from the
first (`--set stage=prior --init-from runs/vq_vae`). The source is checked
before the new run's folder is touched, and the source run is only read.
"""

import json
import os

import keras

from export import layout
from zoo.errors import ConfigError


def load_finished_model(run_dir):
    """The trained model of the finished run at `run_dir`.

    Raises:
      ConfigError: not a run folder, an unfinished run, or an unreadable model.
    """
    run_json = os.path.join(run_dir, layout.RUN_FILE)
    model_path = os.path.join(run_dir, layout.MODEL_FILE)
    try:
        with open(run_json) as f:
            status = json.load(f).get("status")
    except FileNotFoundError:
        raise ConfigError(f"--init-from {run_dir}: no {layout.RUN_FILE} there; "
                          "give the folder of a finished training run") from None
    except (OSError, ValueError, AttributeError) as e:
        raise ConfigError(f"--init-from {run_dir}: cannot read {run_json}: {e}") from None
    if status != "complete" or not os.path.isfile(model_path):
        raise ConfigError(f"--init-from {run_dir}: that run is not finished (status "
                          f"{status!r}); finish it first")
    try:
        return keras.saving.load_model(model_path, compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises many types for bad files
        raise ConfigError(f"--init-from {run_dir}: cannot load {model_path}: "
                          f"{str(e).splitlines()[0][:300]}") from None


def warm_start(model, source):
    """Copies `source`'s weights into `model`; returns what was copied.

    A model with a `warm_start(source)` method decides what it takes (the
    vq_vae takes its autoencoder); any other model takes every weight from
    a source of the same class whose weights have the same shapes.
    """
    if hasattr(model, "warm_start"):
        return model.warm_start(source)
    if type(source) is not type(model):
        raise ConfigError(f"--init-from: the source run trained "
                          f"{source.registered_name!r}, not {model.registered_name!r}")
    if [tuple(w.shape) for w in source.weights] != [tuple(w.shape) for w in model.weights]:
        raise ConfigError("--init-from: the source model's weights have other shapes; "
                          "use the same --set options as the source run")
    for mine, theirs in zip(model.weights, source.weights):
        mine.assign(theirs)
    return ["all weights"]
