"""Linear probe of a zoo model's codes (the representation it learned without labels).

The probe itself, `training.metrics.linear_probe_accuracy`, works on plain
feature arrays; this module turns a model and images into those features.
"""

import numpy as np
import tensorflow as tf


def model_codes(model, images, batch_size=1024):
    """Deterministic codes [N, latent_dim] of `images`, computed in batches.

    The posterior mean for latent-variable models, the code itself for
    deterministic autoencoders (`zoo.latent.codes`).

    Args:
      model: a zoo model with `encode`.
      images: float [N, H, W, C] in [0, 1].
      batch_size: images encoded at once.
    """
    from zoo.latent import codes

    images = np.asarray(images, np.float32)
    encode = tf.function(lambda x: codes(model, x))
    return np.concatenate([np.asarray(encode(images[i:i + batch_size]))
                           for i in range(0, len(images), batch_size)])


def linear_probe(model, train_images, train_labels, test_images, test_labels):
    """Linear-probe accuracy of a model's codes.

    Logistic regression on the codes of the training images, scored on the
    codes of the test images: how linearly separable the classes are in the
    representation the model learned without labels.

    Args:
      model: a zoo model with `encode`.
      train_images, test_images: float [N, H, W, C] in [0, 1].
      train_labels, test_labels: int [N].

    Returns:
      Test accuracy, a Python float in [0, 1].
    """
    if "encode" not in model.capabilities:
        raise ValueError(f"model {model.registered_name!r} has no encoder to probe")
    from training.metrics import linear_probe_accuracy

    return linear_probe_accuracy(model_codes(model, train_images), train_labels,
                                 model_codes(model, test_images), test_labels)
