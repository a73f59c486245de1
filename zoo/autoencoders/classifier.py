"""Encoder reuse: a classifier on top of a trained autoencoder's encoder.

Not a generative model (nothing is registered here): a helper for the
classic use of unsupervised pretraining ([1] sec. 15.1), where the encoder
either stays frozen (its codes are fixed features) or is fine-tuned with
the new head.

References:
  [1] Goodfellow, Bengio, Courville. Deep Learning. MIT Press 2016.
  [2] Erhan, Bengio, Courville, Manzagol, Vincent, Bengio. Why Does
      Unsupervised Pre-training Help Deep Learning? JMLR 11, 2010.
"""

import keras
import numpy as np

from zoo import checks
from zoo.errors import ConfigError, InputError
from zoo.layers.networks import network


def build_classifier(model, num_classes, fine_tune=False, hidden_units=()):
    """A `keras.Model` images -> class logits that starts from `model`'s encoder.

    The encoder is copied (same weights), so training the classifier never
    changes the autoencoder it came from.

    Args:
      model: a trained zoo model with an `encoder` network.
      num_classes: number of classes K.
      fine_tune: False freezes the copied encoder (only the head trains);
        True trains it along with the head.
      hidden_units: widths of optional ReLU layers between code and logits.

    Returns:
      A `keras.Model` from images [N, H, W, C] to logits [N, K]; its layer
      "encoder" is the copy.
    """
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, keras.Model):
        raise ConfigError(f"model {getattr(model, 'registered_name', model)!r} "
                          "has no encoder network to reuse")
    num_classes = checks.int_at_least("num_classes", num_classes, 2)
    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    copy.trainable = bool(fine_tune)
    images = keras.Input(model.image_shape)
    # training=False keeps a frozen encoder in inference mode (BatchNorm,
    # dropout) as Keras' transfer-learning guide recommends.
    h = copy(images, training=False) if not fine_tune else copy(images)
    for units in checks.positive_ints("hidden_units", hidden_units, allow_empty=True):
        h = keras.layers.Dense(units, activation="relu")(h)
    logits = keras.layers.Dense(num_classes, name="logits")(h)
    return network(images, logits, name="encoder_classifier")


def train_classifier(model, images, labels, num_classes=None, fine_tune=False,
                     hidden_units=(), epochs=10, batch_size=64, learning_rate=1e-3,
                     validation_data=None, seed=0, verbose=0):
    """Builds a classifier from `model`'s encoder and trains it on labels.

    Args:
      model: a trained zoo model with an `encoder` network.
      images: float [N, H, W, C] in [0, 1].
      labels: int [N] in [0, num_classes).
      num_classes: K; default max(labels) + 1.
      fine_tune: train the copied encoder too (default: frozen).
      hidden_units: optional hidden layers of the head.
      epochs, batch_size, learning_rate: Adam training settings.
      validation_data: optional (images, labels) evaluated every epoch.
      seed: seeds the head's initialisation and the shuffling.
      verbose: Keras `fit` verbosity.

    Returns:
      (classifier, history): the trained `keras.Model` (logits) and the
      `fit` history with "loss" and "accuracy".
    """
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.shape != (len(images),):
        raise InputError(f"labels must be int [N] with N={len(images)}, got "
                         f"{labels.dtype} {labels.shape}")
    num_classes = int(num_classes or labels.max() + 1)
    keras.utils.set_random_seed(seed)
    classifier = build_classifier(model, num_classes, fine_tune, hidden_units)
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    history = classifier.fit(images, labels, epochs=epochs, batch_size=batch_size,
                             validation_data=validation_data, verbose=verbose,
                             shuffle=True)
    return classifier, history
