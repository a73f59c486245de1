"""Test-set evaluation of zoo models.

Log-likelihoods are reported in nats per image (higher is better) and as
negative log-likelihood in bits per dimension (lower is better), on the
data exactly as the model sees it at evaluation (`model.preprocessing(False)`,
e.g. a fixed binarization for Bernoulli models), which the results record.

References:
  [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. 2015.
  [2] Theis, van den Oord, Bethge. A note on the evaluation of generative
      models. ICLR 2016.
"""

import numpy as np
import tensorflow as tf

from zoo.base import GenerativeModel
from zoo.layers.sampling import per_row_seeds
from zoo.losses import nats_to_bits_per_dim


def evaluate(model, dataset, iwae_samples=100, seed=0):
    """Evaluates `model` on every batch of `dataset`.

    Args:
      model: a zoo model.
      dataset: `tf.data.Dataset` of image batches (optionally with labels),
        preprocessed with `model.preprocessing(False)`.
      iwae_samples: k for the importance-weighted log p(x) of
        latent-variable models; 0 skips it.
      seed: base seed; batch b uses seed + b, so results are reproducible.

    Returns:
      A flat dict of Python floats, e.g. test_elbo_nats,
      test_elbo_bits_per_dim, test_log_likelihood_nats (with
      log_likelihood_estimator and iwae_samples), test_nll_bits_per_dim,
      test_reconstruction_mse, and num_examples.
    """
    caps = model.capabilities
    has_elbo = hasattr(model, "elbo_from_seeds")
    has_iwae = hasattr(model, "iwae") and iwae_samples > 0
    exact_log_prob = "log_prob" in caps and not hasattr(model, "iwae")
    elbo_fn = tf.function(model.elbo_from_seeds) if has_elbo else None
    sums = {"elbo": 0.0, "ll": 0.0, "mse": 0.0}
    n = 0
    for b, batch in enumerate(dataset):
        x = tf.cast(GenerativeModel.images_from_batch(batch), tf.float32)
        size = int(x.shape[0])
        if has_elbo:
            sums["elbo"] += float(tf.reduce_sum(elbo_fn(x, per_row_seeds(size, seed + b))))
        if has_iwae:
            sums["ll"] += float(tf.reduce_sum(
                model.iwae(x, num_samples=iwae_samples, seed=seed + b)))
        elif exact_log_prob:
            # Class-conditional models score images under their own labels.
            kwargs = {"labels": batch[1]} if getattr(model, "conditional", False) else {}
            sums["ll"] += float(tf.reduce_sum(model.log_prob(x, **kwargs)))
        if "reconstruct" in caps:
            sums["mse"] += float(tf.reduce_sum(
                tf.reduce_mean(tf.square(model.reconstruct(x) - x), [1, 2, 3])))
        n += size
    if n == 0:
        raise ValueError("evaluation dataset is empty")
    d = model.num_dims
    results = {"num_examples": n, "evaluation_data": model.preprocessing(False)}
    if has_elbo:
        results["test_elbo_nats"] = sums["elbo"] / n
        results["test_elbo_bits_per_dim"] = -nats_to_bits_per_dim(sums["elbo"] / n, d)
    if has_iwae or exact_log_prob:
        results["test_log_likelihood_nats"] = sums["ll"] / n
        results["test_nll_bits_per_dim"] = -nats_to_bits_per_dim(sums["ll"] / n, d)
        results["log_likelihood_estimator"] = "iwae" if has_iwae else "exact"
        if has_iwae:
            results["iwae_samples"] = int(iwae_samples)
    if "reconstruct" in caps:
        results["test_reconstruction_mse"] = sums["mse"] / n
    return results


def model_codes(model, images, batch_size=1024):
    """Deterministic codes [N, latent_dim] of `images`, computed in batches.

    The posterior mean for latent-variable models, the code itself for
    deterministic autoencoders (`zoo.latent.codes`).
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
