"""Test-set likelihood evaluation of zoo models.

Log-likelihoods are reported in nats per image (higher is better) and as
negative log-likelihood in bits per dimension (lower is better). Every
result says what it is a likelihood *of*, because bits/dim are comparable
only on the same data:

  likelihood_kind   "bernoulli" (binary pixels), "discrete" (a normalized
                    distribution over `num_levels` grey levels) or "density"
                    (a continuous density on [0, 1]^D)
  num_levels        levels per pixel of the data that is scored
  evaluation_data   "fixed binarization (binary_static)", "8-bit levels",
                    "L levels" or "uniformly dequantized 8-bit"
  evaluation_mode   the `training.datasets` mode of the batches

A density evaluated at the grid points of 8-bit images is not a
probability and can exceed 1 (a Gaussian decoder scored on grey levels gave
-6.67 bits/dim). A density is therefore scored on uniformly dequantized data
y = (x_int + u) / 256, u ~ U[0, 1)^D (seeded), and its nats are moved to the
scale of the 8-bit integers,

  log P(x_int) >= E_u[log p(y)] - D log 256        ([2] sec. 3.1, [3]),

so its bits/dim, (-log p(y) + D ln 256) / (D ln 2), bound the discrete
negative log-likelihood and compare with discrete 8-bit models.

References:
  [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. 2015.
  [2] Theis, van den Oord, Bethge. A note on the evaluation of generative
      models. ICLR 2016.
  [3] Uria, Murray, Larochelle. RNADE: The real-valued neural autoregressive
      density-estimator. NeurIPS 2013.
"""

import math

import numpy as np
import tensorflow as tf

from zoo.base import GenerativeModel
from zoo.layers.sampling import per_row_seeds
from zoo.losses import nats_to_bits_per_dim

#: `zoo.distributions.ImageLikelihood` kinds that are densities, not probabilities.
DENSITY_KINDS = frozenset({"gaussian"})
#: Grey levels of the stored data a density is dequantized from (uint8 images).
DATA_LEVELS = 256
# Second word of the dequantization noise's seed; seed rows of the ELBO's
# posterior draws are [seed + b, i] with i < batch size, so they never meet it.
_DEQUANTIZATION_STREAM = 2**31 - 1


def likelihood_info(model):
    """What `evaluate` scores for `model`.

    Read from the capability surface: the data mode
    (`model.preprocessing(False)`), the per-pixel likelihood of latent-variable
    models (`model.likelihood.kind`, `.num_levels`), `model.num_levels` of
    autoregressive ones, and `log_density` (flows: a density on [0, 1]^D).

    Args:
      model: a zoo model, or an object with the same attributes.

    Returns:
      {"likelihood_kind", "num_levels", "evaluation_data", "evaluation_mode"}.
    """
    mode = model.preprocessing(False)
    pixel = getattr(model, "likelihood", None)
    pixel_kind = getattr(pixel, "kind", None)
    levels = int(getattr(pixel, "num_levels", None) or getattr(model, "num_levels", None)
                 or DATA_LEVELS)
    if mode.startswith("binary") or pixel_kind == "bernoulli" or levels == 2:
        kind, levels, data = "bernoulli", 2, f"fixed binarization ({mode})"
    elif pixel_kind in DENSITY_KINDS or hasattr(model, "log_density"):
        kind, levels, data = "density", DATA_LEVELS, "uniformly dequantized 8-bit"
    else:
        kind, data = "discrete", "8-bit levels" if levels == 256 else f"{levels} levels"
    return {"likelihood_kind": kind, "num_levels": levels, "evaluation_data": data,
            "evaluation_mode": mode}


def dequantize(images, seed, levels=DATA_LEVELS):
    """y = (x_int + u) / levels with x_int = round(x (levels - 1)), u ~ U[0, 1).

    Args:
      images: float [N, H, W, C] in [0, 1] on the grid k / (levels - 1).
      seed: int32 [2], the stateless seed of u.

    Returns:
      float32 [N, H, W, C] in [0, 1).
    """
    x_int = tf.round(tf.cast(images, tf.float32) * (levels - 1))
    u = tf.random.stateless_uniform(tf.shape(x_int), seed=seed)
    return (x_int + u) / levels


def evaluate(model, dataset, iwae_samples=100, seed=0):
    """Evaluates `model` on every batch of `dataset`.

    Args:
      model: a zoo model.
      dataset: `tf.data.Dataset` of image batches [B, H, W, C] (optionally
        with labels [B]), preprocessed with `model.preprocessing(False)`.
      iwae_samples: k for the importance-weighted log p(x) of
        latent-variable models; 0 skips it.
      seed: base seed; batch b uses seed + b, so results are reproducible.

    Returns:
      A flat dict, e.g. test_elbo_nats, test_elbo_bits_per_dim,
      test_log_likelihood_nats (with log_likelihood_estimator and
      iwae_samples), test_nll_bits_per_dim, test_reconstruction_mse,
      num_examples, evaluation_mode, and with any likelihood the fields of
      `likelihood_info`. Densities are scored as the module docstring says.
    """
    caps = model.capabilities
    has_elbo = hasattr(model, "elbo_from_seeds")
    has_iwae = hasattr(model, "iwae") and iwae_samples > 0
    # A log_prob beside an ELBO is a bound or an estimate (IWAE, diffusion's
    # variational bound), never the exact likelihood.
    exact_log_prob = "log_prob" in caps and not hasattr(model, "iwae") and not has_elbo
    info = likelihood_info(model)
    density = info["likelihood_kind"] == "density"
    # Flows score the continuous density of the dequantized images.
    log_prob = getattr(model, "log_density", None) if density else None
    log_prob = log_prob or getattr(model, "log_prob", None)
    # Energy models store log Z for log_prob; it must match the weights scored.
    log_z = model.estimate_log_z(seed=seed) if hasattr(model, "estimate_log_z") else None
    elbo_fn = tf.function(model.elbo_from_seeds) if has_elbo else None
    # Per-example statistics a family adds (`evaluation_terms`), averaged.
    extra_fn = getattr(model, "evaluation_terms", None)
    extra = {}
    sums = {"elbo": 0.0, "ll": 0.0, "mse": 0.0}
    n = 0
    for b, batch in enumerate(dataset):
        x = tf.cast(GenerativeModel.images_from_batch(batch), tf.float32)
        size = int(x.shape[0])
        scored = dequantize(x, [seed + b, _DEQUANTIZATION_STREAM]) if density else x
        if has_elbo:
            sums["elbo"] += float(tf.reduce_sum(elbo_fn(scored, per_row_seeds(size, seed + b))))
        if has_iwae:
            sums["ll"] += float(tf.reduce_sum(
                model.iwae(scored, num_samples=iwae_samples, seed=seed + b)))
        elif exact_log_prob:
            # Class-conditional models score images under their own labels.
            kwargs = {"labels": batch[1]} if model.conditional else {}
            sums["ll"] += float(tf.reduce_sum(log_prob(scored, **kwargs)))
        if extra_fn is not None:
            labels = batch[1] if isinstance(batch, (tuple, list)) and len(batch) > 1 else None
            for key, value in extra_fn(x, labels).items():
                extra[key] = extra.get(key, 0.0) + np.sum(np.asarray(value, np.float64), 0)
        if "reconstruct" in caps:
            sums["mse"] += float(tf.reduce_sum(
                tf.reduce_mean(tf.square(model.reconstruct(x) - x), [1, 2, 3])))
        n += size
    if n == 0:
        raise ValueError("evaluation dataset is empty")
    d = model.num_dims
    # Density -> probability of the 8-bit cell: the D log 256 change of scale.
    shift = d * math.log(DATA_LEVELS) if density else 0.0
    results = {"num_examples": n, "evaluation_mode": info["evaluation_mode"]}
    if has_elbo or has_iwae or exact_log_prob:
        results.update(info)
    if has_elbo:
        results["test_elbo_nats"] = sums["elbo"] / n - shift
        results["test_elbo_bits_per_dim"] = -nats_to_bits_per_dim(results["test_elbo_nats"], d)
    if has_iwae or exact_log_prob:
        results["test_log_likelihood_nats"] = sums["ll"] / n - shift
        results["test_nll_bits_per_dim"] = -nats_to_bits_per_dim(
            results["test_log_likelihood_nats"], d)
        if has_iwae:
            results["log_likelihood_estimator"] = "iwae"
        elif log_z:
            results["log_likelihood_estimator"] = (
                f"log p*(x) - log Z, log Z by {log_z['method']}"
                + (", density dequantized" if density else ""))
        elif density:
            results["log_likelihood_estimator"] = (
                "exact density, dequantized" if getattr(model, "exact_density", True)
                else "density with a Hutchinson trace estimate, dequantized")
        else:
            results["log_likelihood_estimator"] = "exact"
        if has_iwae:
            results["iwae_samples"] = int(iwae_samples)
    if log_z:
        results.update(log_z=log_z["log_z"], log_z_stderr=log_z["stderr"],
                       log_z_method=log_z["method"])
    if "reconstruct" in caps:
        results["test_reconstruction_mse"] = sums["mse"] / n
    results.update(_extra_results({k: v / n for k, v in extra.items()}))
    return results


def _extra_results(means):
    """`evaluation_terms` means as results: "test_NAME" (lists for vectors);
    posterior-mean moments become the count of active units, those whose
    Cov_x(E_q[z_u]) exceeds 0.01 (Burda et al. 2016, sec. 5.2)."""
    results = {}
    if "posterior_mean" in means and "posterior_mean_sq" in means:
        activity = means.pop("posterior_mean_sq") - np.square(means.pop("posterior_mean"))
        results["active_units"] = int(np.sum(activity > 0.01))
    for key, value in means.items():
        value = np.asarray(value)
        results[f"test_{key}"] = float(value) if value.ndim == 0 else value.tolist()
    return results
