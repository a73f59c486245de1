"""Latent-space tools: interpolation, manifold grids, attribute vectors,
code arithmetic and class-conditional grids.

They work on any model with `encode`/`decode` and a `latent_dim`; codes of a
latent-variable model are its posterior means.

References:
  [1] Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014 (fig. 4,
      the learned 2-D manifold).
  [2] White. Sampling Generative Networks. arXiv:1609.04468, 2016
      (spherical interpolation; attribute vectors).
  [3] Shoemake. Animating Rotation with Quaternion Curves. SIGGRAPH 1985.
  [4] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. 2015.
  [5] Radford, Metz, Chintala. Unsupervised Representation Learning with
      Deep Convolutional GANs. ICLR 2016.
  [6] Mirza, Osindero. Conditional Generative Adversarial Nets. 2014.
"""

import numpy as np
import tensorflow as tf
from scipy.stats import norm

from zoo.errors import InputError
from zoo.layers.sampling import per_row_seeds


def codes(model, images):
    """Deterministic codes [N, latent_dim]: the posterior mean, or the code itself."""
    encoded = model.encode(images)
    mean = getattr(encoded, "mean", None)
    return mean() if callable(mean) else tf.convert_to_tensor(encoded)


def interpolate(z0, z1, num_steps=8, method="linear"):
    """Points between codes z0 and z1, both ends included.

    Args:
      z0, z1: codes [latent_dim] or batches [N, latent_dim].
      num_steps: number of points (>= 2).
      method: "linear", or "spherical" (slerp [3], which keeps the norm
        typical of a Gaussian prior where the straight line passes through
        the low-probability centre [2]).

    Returns:
      float32 [num_steps, latent_dim] (or [N, num_steps, latent_dim]).
    """
    if num_steps < 2:
        raise InputError(f"num_steps must be >= 2, got {num_steps}")
    z0 = tf.convert_to_tensor(z0, tf.float32)
    z1 = tf.convert_to_tensor(z1, tf.float32)
    if z0.shape != z1.shape:
        raise InputError(f"codes differ in shape: {z0.shape} vs {z1.shape}")
    t = tf.linspace(0.0, 1.0, num_steps)[:, None]
    if z0.shape.rank == 2:
        t = t[None]
        z0, z1 = z0[:, None], z1[:, None]
    if method == "linear":
        return (1.0 - t) * z0 + t * z1
    if method != "spherical":
        raise InputError(f"method must be 'linear' or 'spherical', got {method!r}")
    unit0 = tf.math.l2_normalize(z0, axis=-1)
    unit1 = tf.math.l2_normalize(z1, axis=-1)
    cos = tf.clip_by_value(tf.reduce_sum(unit0 * unit1, -1, keepdims=True), -1.0, 1.0)
    omega = tf.acos(cos)
    sin = tf.sin(omega)
    # Nearly parallel codes: slerp tends to the straight line.
    safe = sin > 1e-6
    w0 = tf.where(safe, tf.sin((1.0 - t) * omega) / tf.where(safe, sin, 1.0), 1.0 - t)
    w1 = tf.where(safe, tf.sin(t * omega) / tf.where(safe, sin, 1.0), t)
    return w0 * z0 + w1 * z1


def manifold_grid(model, grid_size=15, dims=(0, 1), coverage=0.95):
    """Decodes a grid over two latent dimensions, the others at zero [1].

    Grid points are quantiles of a standard normal, evenly spaced in
    probability from (1 - coverage)/2 to (1 + coverage)/2, so they cover the
    N(0, I) prior evenly.

    Returns:
      float32 images [grid_size * grid_size, H, W, C], row-major with the
      first dimension varying down the rows.
    """
    if len(set(dims)) != 2 or not all(0 <= d < model.latent_dim for d in dims):
        raise InputError(f"dims must be two distinct indices below latent_dim="
                         f"{model.latent_dim}, got {dims}")
    lo = (1.0 - coverage) / 2
    values = norm.ppf(np.linspace(lo, 1.0 - lo, grid_size)).astype(np.float32)
    z = np.zeros((grid_size, grid_size, model.latent_dim), np.float32)
    z[..., dims[0]] = values[:, None]
    z[..., dims[1]] = values[None, :]
    return model.decode(z.reshape(-1, model.latent_dim))


def active_dims(model, images, num_dims=2):
    """Indices of the most active latent units, most active first.

    Activity is Cov_x(E_q[z_u | x]), the variance over data of a unit's
    posterior mean ([4], sec. 5.2); units the model ignores sit near 0.
    """
    activity = np.var(codes(model, images).numpy(), axis=0)
    return tuple(int(i) for i in np.argsort(-activity)[:num_dims])


def class_mean_codes(model, images, labels):
    """Mean code per class: dict label -> [latent_dim]."""
    labels = np.asarray(labels)
    z = codes(model, images).numpy()
    return {int(c): z[labels == c].mean(0) for c in np.unique(labels)}


def attribute_vector(model, images, labels, target, source):
    """Mean code of class `target` minus mean code of class `source` [2].

    Adding it to the code of a `source` image moves it towards `target`.
    """
    means = class_mean_codes(model, images, labels)
    for c in (target, source):
        if c not in means:
            raise InputError(f"no images of class {c} among labels "
                             f"{sorted(means)}")
    return means[target] - means[source]


def apply_attribute(z, vector, strengths=(0.0, 0.5, 1.0, 1.5)):
    """Codes z + s * vector for each strength s: [len(strengths), *z.shape]."""
    z = np.asarray(z, np.float32)
    return np.stack([z + s * np.asarray(vector, np.float32) for s in strengths])


def vector_arithmetic(z_a, z_b, z_c):
    """mean(z_a) - mean(z_b) + mean(z_c), DCGAN's arithmetic on averaged codes.

    [5] (sec. 6.3, fig. 7) averages the codes of three samples per concept
    before adding and subtracting, since single codes were unstable.

    Args:
      z_a, z_b, z_c: codes [N_i, latent_dim] (or [latent_dim]) of samples
        that show concepts A, B and C.

    Returns:
      float32 [latent_dim], a code showing "A - B + C".
    """
    means = []
    for name, z in (("z_a", z_a), ("z_b", z_b), ("z_c", z_c)):
        z = np.asarray(z, np.float32)
        z = z[None] if z.ndim == 1 else z
        if z.ndim != 2 or not len(z):
            raise InputError(f"{name} must be codes [N, latent_dim], got shape {z.shape}")
        means.append(z.mean(0))
    if len({m.shape for m in means}) != 1:
        raise InputError(f"codes differ in size: {[m.shape for m in means]}")
    return means[0] - means[1] + means[2]


def class_grid(model, num_columns=8, seed=0):
    """Samples of a class-conditional model, one row per class.

    Column j uses seed row [seed, j] in every row, so a column holds the
    same noise under every label ([6], fig. 2).

    Returns:
      float32 images [num_classes * num_columns, H, W, C], row-major.
    """
    if not getattr(model, "conditional", False):
        raise InputError("class_grid needs a class-conditional model")
    if isinstance(num_columns, bool) or not isinstance(num_columns, int) or num_columns < 1:
        raise InputError(f"num_columns must be a positive integer, got {num_columns!r}")
    k = model.num_classes
    seeds = np.tile(per_row_seeds(num_columns, seed).numpy(), (k, 1))
    labels = np.repeat(np.arange(k), num_columns).astype(np.int32)
    return model.sample_from_seeds(seeds, labels)
