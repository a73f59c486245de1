"""Feature extractors of the feature-based metrics (FID, KID, IS, precision/recall).

`classifier`: the per-dataset classifier of `python -m training.train
classifier --dataset SPEC` (its penultimate layer and softmax). `inception`:
Inception-v3 pool features at 299x299, only from a weights file already on
disk; nothing is downloaded. A loader returns (extractor, None) or
(None, reason), the reason being reported as "not applicable".
"""

import json
import os

import numpy as np

from export import layout

INCEPTION_CACHE = os.path.join(
    os.path.expanduser("~"), ".keras", "models",
    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
EXTRACTOR_NAMES = ("classifier", "inception")


class Extractor:
    """features(images [N,H,W,C] in [0,1]) -> [N, D]; probabilities -> [N, K] or None."""

    def __init__(self, name, description, fn, has_probabilities):
        self.name, self.description = name, description
        self._fn, self.has_probabilities = fn, has_probabilities

    def __call__(self, images, batch_size=500):
        feats, probs = [], []
        for start in range(0, len(images), batch_size):
            f, p = self._fn(images[start:start + batch_size])
            feats.append(np.asarray(f, np.float64))
            if p is not None:
                probs.append(np.asarray(p, np.float64))
        return np.concatenate(feats), (np.concatenate(probs) if probs else None)


def load_classifier_extractor(path, image_shape):
    """The classifier extractor from a classifier run directory, or (None, reason)."""
    import keras
    import tensorflow as tf

    from training.classifier import FEATURES_LAYER

    model_path = os.path.join(path, layout.MODEL_FILE)
    if not os.path.isfile(model_path):
        return None, f"no classifier at {path}"
    model = keras.saving.load_model(model_path, compile=False)
    shape = tuple(model.input_shape[1:])
    if shape != tuple(image_shape):
        return None, (f"the classifier at {path} takes images {shape}, the model makes "
                      f"{tuple(image_shape)}")
    both = keras.Model(model.inputs, [model.get_layer(FEATURES_LAYER).output, model.output])
    fn = tf.function(lambda x: both(x, training=False), reduce_retracing=True)
    info = {}
    if os.path.isfile(os.path.join(path, layout.METRICS_FILE)):
        with open(os.path.join(path, layout.METRICS_FILE)) as f:
            info = json.load(f)
    desc = (f"zoo classifier {path} (trained on {info.get('dataset', '?')}, test accuracy "
            f"{info.get('test_accuracy', float('nan')):.4f}), penultimate layer "
            f"'{FEATURES_LAYER}' ({both.outputs[0].shape[-1]} features)")
    return Extractor("classifier", desc, lambda x: fn(tf.constant(x)), True), None


def load_inception_extractor(weights):
    """Inception-v3 at 299x299 from a local weights file, or (None, reason)."""
    weights = weights or INCEPTION_CACHE
    if not os.path.isfile(weights):
        return None, f"weights not available locally ({weights} missing; nothing is downloaded)"
    import keras
    import tensorflow as tf

    top = "notop" not in os.path.basename(weights)
    net = keras.applications.InceptionV3(include_top=top, weights=weights,
                                         pooling=None if top else "avg",
                                         input_shape=(299, 299, 3))
    if top:
        net = keras.Model(net.inputs, [net.get_layer("avg_pool").output, net.output])

    @tf.function(reduce_retracing=True)
    def run(x):
        x = tf.image.resize(x, (299, 299), method="bilinear")
        if x.shape[-1] == 1:
            x = tf.image.grayscale_to_rgb(x)
        return net(x * 2.0 - 1.0, training=False)  # Inception expects [-1, 1]

    def fn(x):
        out = run(tf.constant(x))
        return (out[0], out[1]) if top else (out, None)

    desc = f"Inception-v3 pool3 (2048 features, 299x299) from {weights}"
    return Extractor("inception", desc, fn, top), None


def load_extractors(dataset, image_shape, classifier_dir=None, inception_weights=None):
    """Every extractor that can be loaded, and why the others cannot.

    Args:
      dataset: dataset spec (names the default classifier directory).
      image_shape: (H, W, C) of the evaluated images.
      classifier_dir: classifier run directory (default runs/classifier-<slug>).
      inception_weights: Inception-v3 weights file (default keras' cache path).

    Returns:
      ({name: Extractor}, {name: reason}).
    """
    from training.classifier import default_classifier_dir

    loaded, reasons = {}, {}
    path = classifier_dir or default_classifier_dir(dataset)
    if os.path.isdir(path):
        ex, reason = load_classifier_extractor(path, image_shape)
    else:
        ex, reason = None, (f"no classifier at {path}; train one with python -m "
                            f"training.train classifier --dataset {dataset} or pass "
                            "--extractor PATH")
    ex_inception, reason_inception = load_inception_extractor(inception_weights)
    for name, e, r in (("classifier", ex, reason), ("inception", ex_inception,
                                                    reason_inception)):
        if e is not None:
            loaded[name] = e
        else:
            reasons[name] = r
    return loaded, reasons
