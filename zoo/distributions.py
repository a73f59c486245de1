"""TFP distributions shared by the families: priors, posteriors, pixel likelihoods.

Models hold `tfp.distributions` objects rather than TFP's Keras layers (which
only work with Keras 2), so the distributions are built from network outputs
inside `call`/`train_step` and never own variables.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import checks
from zoo.errors import ConfigError

tfd = tfp.distributions

PRIORS = ("normal", "mixture")
LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic")


def quantize(unit_images, num_levels):
    """Images in [0, 1] -> grey levels {0, ..., L - 1} as floats: round(x * (L - 1)).

    The one quantization rule of the zoo, used by the models and by the
    datasets' "levels" mode. Rounding on the (L - 1)-step grid sends 0 and 1
    to the end levels 0 and L - 1 and inverts `level / (L - 1)` exactly, so
    it is the map under which the models' discrete likelihoods (the
    autoregressive categoricals, `ImageLikelihood("discretized_logistic")`)
    are defined. The floor rule (v * L) // 256 on 0..255 pixels would shift
    the bin edges and disagree with them on which level an image has.

    Args:
      unit_images: float tensor (or array) with values in [0, 1].
      num_levels: L >= 2.

    Returns:
      A float tensor of the input's shape and dtype.
    """
    return tf.round(unit_images * (num_levels - 1))


def make_prior(kind, latent_dim):
    """The prior p(z) as a distribution with batch shape [] and event [latent_dim].

    Args:
      kind: "normal" for N(0, I); "mixture" for `mixture_prior(latent_dim)`.
      latent_dim: positive int.
    """
    if kind == "normal":
        return tfd.MultivariateNormalDiag(
            loc=tf.zeros([latent_dim]), scale_diag=tf.ones([latent_dim]),
            name="prior")
    if kind == "mixture":
        return mixture_prior(latent_dim)
    raise ConfigError(f"unknown prior {kind!r}; choose one of {PRIORS}")


def mixture_prior(latent_dim, num_components=10, radius=3.0, scale=0.5):
    """Equal-weight mixture of `num_components` isotropic Gaussians.

    The means lie evenly on a circle of `radius` in the first two latent
    dimensions (on a segment when latent_dim is 1), the prior of the
    adversarial autoencoder's fig. 2 (Makhzani et al. 2015); its KL to a
    Gaussian posterior has no closed form.
    """
    angles = np.arange(num_components) * 2 * np.pi / num_components
    means = np.zeros((num_components, latent_dim), np.float32)
    if latent_dim == 1:
        means[:, 0] = np.linspace(-radius, radius, num_components)
    else:
        means[:, 0], means[:, 1] = radius * np.cos(angles), radius * np.sin(angles)
    return tfd.MixtureSameFamily(
        tfd.Categorical(logits=tf.zeros([num_components])),
        tfd.MultivariateNormalDiag(loc=tf.constant(means),
                                   scale_diag=tf.fill([num_components, latent_dim], scale)),
        name="prior")


def diagonal_gaussian(mean, log_var):
    """q(z|x) = N(mean, diag(exp(log_var))), batch [N], event [latent_dim]."""
    return tfd.MultivariateNormalDiag(
        loc=mean, scale_diag=tf.exp(0.5 * log_var), name="posterior")


class ImageLikelihood:
    """p(x | params) for images with values in [0, 1].

    Networks emit `params` of shape [N, H, W, C * params_per_channel]; this
    object turns them into a `tfd` distribution over the whole image (event
    shape [H, W, C]) and maps images to the distribution's support.

    Kinds:
      bernoulli: Bernoulli per pixel, for binarized data. On grey levels its
        log-probability is the cross-entropy, not a normalized likelihood.
      gaussian: Gaussian per pixel with learned scale, a density on [0, 1]
        (not comparable to the discrete kinds in bits/dim). The scale is
        floored at one grey level so the density cannot grow without bound
        on discrete data.
      discretized_logistic: a logistic per pixel quantized to `num_levels`
        grey levels, edges absorbing the tails (Salimans et al. 2017, eq. 2),
        a normalized distribution over 8-bit images.

    References:
      [1] Salimans, Karpathy, Chen, Kingma. PixelCNN++. ICLR 2017.
    """

    def __init__(self, kind, num_levels=256):
        self.kind = checks.choice("likelihood", kind, LIKELIHOODS)
        self.num_levels = checks.int_in_range("num_levels", num_levels, 2, 65536)

    @property
    def params_per_channel(self):
        return 1 if self.kind == "bernoulli" else 2

    @property
    def data_is_binary(self):
        return self.kind == "bernoulli"

    def _split(self, params):
        loc, raw_scale = tf.split(params, 2, axis=-1)
        return loc, raw_scale

    def distribution(self, params):
        """The `tfd` distribution, batch [N], event [H, W, C].

        Its support is {0, 1} for bernoulli, the reals for gaussian and the
        integer grey levels {0, ..., num_levels - 1} for discretized_logistic;
        `to_support` maps images in [0, 1] onto it.
        """
        if self.kind == "bernoulli":
            base = tfd.Bernoulli(logits=params, dtype=tf.float32)
        elif self.kind == "gaussian":
            loc, raw_scale = self._split(params)
            floor = 1.0 / (self.num_levels - 1)
            base = tfd.Normal(tf.sigmoid(loc), floor + tf.nn.softplus(raw_scale))
        else:
            loc, raw_scale = self._split(params)
            top = float(self.num_levels - 1)
            # Logistic on the level scale; the floor of a tenth of a level
            # keeps log(cdf(k + 1/2) - cdf(k - 1/2)) finite.
            logistic = tfd.Logistic(top * tf.sigmoid(loc),
                                    0.1 + tf.nn.softplus(raw_scale) * top / 8)
            base = tfd.QuantizedDistribution(
                tfd.TransformedDistribution(logistic, tfp.bijectors.Shift(-0.5)),
                low=0.0, high=top)
        return tfd.Independent(base, reinterpreted_batch_ndims=3)

    def to_support(self, images):
        """Maps images in [0, 1] to the distribution's support."""
        if self.kind == "discretized_logistic":
            return quantize(images, self.num_levels)
        return images

    def from_support(self, values):
        """Inverse of `to_support`: values on the support to [0, 1]."""
        if self.kind == "discretized_logistic":
            return values / (self.num_levels - 1)
        return values

    def log_prob(self, params, images):
        """log p(images | params) in nats, shape [N]."""
        return self.distribution(params).log_prob(self.to_support(images))

    def mean(self, params):
        """E[x | params] mapped to [0, 1], the image shown for a code."""
        if self.kind == "bernoulli":
            return tf.sigmoid(params)
        loc, _ = self._split(params)
        # The quantized mean is within a fraction of a level of the logistic
        # location; the location is what users expect to see.
        return tf.sigmoid(loc)

    def sample(self, params, seed):
        """A pixel-level sample mapped to [0, 1]."""
        x = self.distribution(params).sample(seed=seed)
        return tf.clip_by_value(self.from_support(x), 0.0, 1.0)
