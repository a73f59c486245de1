"""The per-dataset classifier behind the feature-based metrics.

FID, KID, Inception Score, precision/recall and the class accuracy of
conditional samples need a feature extractor. Inception-v3 weights cannot be
downloaded here, and for MNIST-like data the usual practice is a classifier
trained on the dataset itself. `python -m training.train classifier
--dataset SPEC` is the one non-generative target of the training CLI: it is
deliberately NOT a registered zoo model (the registry is for generative
models, and every registered model runs the generative contract tests).

A classifier run directory holds:
  model.keras   the Keras classifier (layer "features" = penultimate layer,
                output = class probabilities)
  run.json      {"model": "classifier", dataset, image_shape, num_classes, ...}
  metrics.json  test accuracy and training history
"""

import json
import os
import re

import keras
import numpy as np

from export import layout
from training import datasets
from zoo.errors import ConfigError

CLASSIFIER = "classifier"
FEATURES_LAYER = "features"


def dataset_slug(spec):
    """A file-name-safe short name of a dataset spec, e.g. npz:/a/mnist-10k.npz -> mnist-10k."""
    kind, sep, rest = str(spec).partition(":")
    name = rest if sep and kind in ("npz", "dir", "tfds") else str(spec)
    name = os.path.basename(os.path.normpath(name)) or name
    name = re.sub(r"\.npz$", "", name)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "data"


def default_classifier_dir(spec, root="runs"):
    """Where `train_classifier` writes by default and `training.evaluate` looks."""
    return os.path.join(root, f"{CLASSIFIER}-{dataset_slug(spec)}")


def build_classifier(image_shape, num_classes, width=32, feature_dim=128):
    """A small convnet: images [N, H, W, C] in [0, 1] -> probabilities [N, K]."""
    inputs = keras.Input(image_shape, name="images")
    x = inputs
    for i, filters in enumerate((width, 2 * width)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        # Halve the resolution only while it stays >= 4 pixels (8x8 digits).
        if min(x.shape[1], x.shape[2]) >= 8:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    features = keras.layers.Dense(feature_dim, activation="relu", name=FEATURES_LAYER)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(
        keras.layers.Dropout(0.3)(features))
    return keras.Model(inputs, outputs, name=CLASSIFIER)


def train_classifier(dataset="digits", out=None, epochs=10, batch_size=64, seed=0,
                     learning_rate=1e-3, data_dir=None, overwrite=False, verbose=0):
    """Trains and saves the dataset's classifier; returns metrics.json's dict.

    Args:
      dataset: dataset spec with labels (see `training.datasets`).
      out: run directory (default runs/classifier-<dataset slug>).
      epochs, batch_size, seed, learning_rate: the training budget.
      data_dir: tensorflow-datasets data directory.
      overwrite: replace an existing classifier run.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    out = out or default_classifier_dir(dataset)
    if layout.is_run_dir(out) and not overwrite:
        raise ConfigError(f"{out} already holds a classifier; pass --overwrite to replace it")
    info = datasets.info(dataset, data_dir=data_dir)
    if not info.num_classes:
        raise ConfigError(f"dataset {dataset!r} has no labels; a classifier needs them")
    x_train, y_train = datasets.load_arrays(dataset, "train", data_dir=data_dir)
    x_test, y_test = datasets.load_arrays(dataset, "test", data_dir=data_dir)
    keras.utils.set_random_seed(seed)
    model = build_classifier(info.image_shape, info.num_classes)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train.astype(np.float32) / 255.0, y_train, epochs=epochs,
                        batch_size=batch_size, verbose=verbose, shuffle=True)
    _, accuracy = model.evaluate(x_test.astype(np.float32) / 255.0, y_test, verbose=0)
    os.makedirs(out, exist_ok=True)
    model.save(os.path.join(out, layout.MODEL_FILE))
    run = {"model": CLASSIFIER, "dataset": dataset, "image_shape": list(info.image_shape),
           "num_classes": int(info.num_classes), "epochs": epochs, "batch_size": batch_size,
           "seed": seed, "status": "complete"}
    metrics = {"model": CLASSIFIER, "dataset": dataset, "test_accuracy": float(accuracy),
               "num_test": int(len(y_test)),
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()}}
    for name, data in ((layout.RUN_FILE, run), (layout.METRICS_FILE, metrics)):
        with open(os.path.join(out, name), "w") as f:
            json.dump(data, f, indent=2)
    return metrics
