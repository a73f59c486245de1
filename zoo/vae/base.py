"""Shared machinery of the VAE family: ELBO, IWAE, train/test steps, export.

Subclasses only build the networks (`_build_encoder`, `_build_decoder`).

References:
  [1] Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014.
  [2] Higgins et al. beta-VAE: Learning Basic Visual Concepts with a
      Constrained Variational Framework. ICLR 2017.
  [3] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders.
      ICLR 2016 (arXiv:1509.00519, 2015).
"""

import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.distributions import ImageLikelihood, diagonal_gaussian, make_prior
from zoo.layers.sampling import normal_per_row, per_row_seeds, sample_per_row
from zoo.losses import kl_divergence, log_mean_exp


@tf.function(reduce_retracing=True)
def _iwae_log_weights(model, x, q_loc, q_scale, eps):
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), shape [k, N] ([3], eq. 8)."""
    k, n = tf.shape(eps)[0], tf.shape(eps)[1]
    z = q_loc + q_scale * eps
    q = diagonal_gaussian(q_loc, 2.0 * tf.math.log(q_scale))
    x_rep = tf.reshape(tf.broadcast_to(x, tf.concat([[k], tf.shape(x)], 0)),
                       tf.concat([[k * n], tf.shape(x)[1:]], 0))
    log_px = tf.reshape(model.log_px(tf.reshape(z, [k * n, model.latent_dim]), x_rep), [k, n])
    return log_px + model.prior.log_prob(z) - q.log_prob(z)


class VAEBase(GenerativeModel):
    """A VAE: encoder q(z|x), prior p(z), decoder likelihood p(x|z).

    The loss per image is the negative beta-weighted ELBO ([1] eq. 3, [2]
    eq. 4):  -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z)),  with one
    reparameterized sample of z and the KL in closed form when TFP has one.

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z.
      likelihood: "bernoulli" (binarized data), "gaussian" or
        "discretized_logistic" (grey levels); see `zoo.distributions.ImageLikelihood`.
      beta: weight of the KL term; 1 gives the ELBO, > 1 a beta-VAE.
      prior: name of the prior; "normal" is N(0, I).
      num_levels: grey levels of the data, for the discretized likelihood.
      seed: seeds training-time randomness.
    """

    hub_endpoint = "decode"
    samples_are_means = True
    metric_names = ("loss", "reconstruction", "kl")

    def __init__(self, image_shape, latent_dim, likelihood, beta, prior,
                 num_levels, seed, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.latent_dim = checks.positive_int("latent_dim", latent_dim)
        self.beta = checks.non_negative_float("beta", beta)
        self.likelihood = ImageLikelihood(likelihood, num_levels)
        self.prior_kind = prior
        self.prior = self._make_prior()

    def _make_prior(self):
        """p(z) as a `tfd` distribution, batch [], event [latent_dim].

        Override to use another prior; the KL falls back to a one-sample
        Monte Carlo estimate when TFP has no closed form for the pair.
        """
        return make_prior(self.prior_kind, self.latent_dim)

    def _build_networks(self):
        """Builds encoder and decoder; subclasses call it at the end of __init__."""
        self.encoder = self._build_encoder()
        self.decoder = self._build_decoder()
        self.built = True

    def _build_encoder(self):
        """A `keras.Model` from images [N, H, W, C] to [N, 2 * latent_dim]."""
        raise NotImplementedError

    def _build_decoder(self):
        """A `keras.Model` from z [N, latent_dim] to likelihood parameters
        [N, H, W, C * likelihood.params_per_channel]."""
        raise NotImplementedError

    @property
    def decoder_channels(self):
        return self.image_shape[-1] * self.likelihood.params_per_channel

    def preprocessing(self, training=True):
        if self.likelihood.data_is_binary:
            # Dynamic binarization for training, a fixed one for evaluation
            # so test numbers are reproducible.
            return "binary_dynamic" if training else "binary_static"
        return "unit"

    # --------------------------------------------------------------- model
    def posterior(self, images):
        """q(z|x) for already-validated images: batch [N], event [latent_dim]."""
        mean, log_var = tf.split(self.encoder(images), 2, axis=-1)
        return diagonal_gaussian(mean, log_var)

    def decoder_distribution(self, z):
        """p(x|z) as a `tfd` distribution, batch [N], event [H, W, C]."""
        return self.likelihood.distribution(self.decoder(z))

    def call(self, inputs, training=False):
        return self._reconstruct(inputs)

    def _encode(self, images):
        return self.posterior(images)

    def _decode(self, z):
        return self.likelihood.mean(self.decoder(z))

    def _reconstruct(self, images):
        return self._decode(self.posterior(images).mean())

    def _sample(self, seeds):
        return self._sample_outputs(seeds)["images"]

    def _sample_outputs(self, seeds, labels=None):
        """The decoder means and draws x ~ p(x|z) for one z per seed row.

        The draw of row i uses a seed folded from seed row i, so it is as
        batch-invariant as the mean and independent of z's noise.
        """
        del labels
        params = self.decoder(sample_per_row(self.prior, seeds))
        draws = tf.map_fn(
            lambda row: self.likelihood.sample(
                row[0][None], tf.random.experimental.stateless_fold_in(row[1], 1))[0],
            (params, seeds), fn_output_signature=tf.float32)
        return {"images": self.likelihood.mean(params), "draws": draws}

    def _elbo_terms(self, images, eps):
        """log p(x|z) and KL per image for z = mean + std * eps; both [N]."""
        q = self.posterior(images)
        z = q.mean() + q.stddev() * eps
        return self.log_px(z, images), kl_divergence(q, self.prior, z)

    def log_px(self, z, images):
        """log p(x|z) per image [N] (a PixelVAE's decoder also reads x)."""
        return self.likelihood.log_prob(self.decoder(z), images)

    def kl_per_dim(self, images):
        """KL(q(z_u|x) || N(0, 1)) of each latent unit u, [N, latent_dim]:
        the units whose KL stays near 0 are unused (posterior collapse)."""
        q = self.posterior(self.check_images(images))
        mean, var = q.mean(), tf.square(q.stddev())
        return 0.5 * (tf.square(mean) + var - 1.0 - tf.math.log(var))

    def elbo(self, images, seed=0):
        """Per-image ELBO in nats with one posterior sample per image.

        Args:
          images: float [N, H, W, C] in [0, 1].
          seed: int; image i uses seed row [seed, i] (as in `sample`).

        Returns:
          float32 [N].
        """
        images = self.check_images(images)
        return self.elbo_from_seeds(images, per_row_seeds(int(images.shape[0]), seed))

    def elbo_from_seeds(self, images, seeds):
        """Per-image ELBO [N] with the posterior sample of row i drawn from seed row i."""
        log_px, kl = self._elbo_terms(self.check_images(images),
                                      normal_per_row(checks.seeds(seeds), self.latent_dim))
        return log_px - kl

    def kl(self, images):
        """KL(q(z|x) || p(z)) per image [N], closed form for the normal prior."""
        return kl_divergence(self.posterior(self.check_images(images)), self.prior)

    def evaluation_terms(self, images, labels=None):
        """Per-image statistics the evaluation averages: the KL of each latent
        unit and the moments of the posterior means, which give the number of
        active units (`training.likelihood`); nothing without the normal prior."""
        del labels
        if self.prior_kind != "normal":
            return {}
        mean = self.posterior(images).mean()
        return {"kl_per_dim": self.kl_per_dim(images), "posterior_mean": mean,
                "posterior_mean_sq": tf.square(mean)}

    def iwae(self, images, num_samples=100, seed=0, chunk_size=None):
        """Importance-weighted estimate of log p(x) with k samples ([3], eq. 8).

        E[IWAE_k] is a lower bound on log p(x) that rises with k and equals
        the ELBO for k = 1 (with a Monte Carlo KL).

        Args:
          images: float [N, H, W, C] in [0, 1].
          num_samples: k.
          seed: int in [0, 2**31 - 1]; sample j is z_j = mean + std * eps_j
            with eps_j = tf.random.stateless_normal([N, latent_dim],
            seed=[seed, j]), so the estimate does not depend on chunk_size
            and a larger k extends the samples of a smaller one.
          chunk_size: samples decoded at once (default: up to 64 per image
            batch), bounding memory for large k.

        Returns:
          float32 [N] in nats.
        """
        images = self.check_images(images)
        k = checks.positive_int("num_samples", num_samples)
        chunk = checks.positive_int("chunk_size", chunk_size or min(k, 64))
        seeds = per_row_seeds(k, seed)
        q = self.posterior(images)
        loc, scale = q.mean(), q.stddev()
        log_w = []
        for start in range(0, k, chunk):
            eps = tf.map_fn(lambda s: tf.random.stateless_normal(tf.shape(loc), seed=s),
                            seeds[start:start + chunk], fn_output_signature=tf.float32)
            log_w.append(_iwae_log_weights(self, images, loc, scale, eps))
        return log_mean_exp(tf.concat(log_w, 0), axis=0)

    def _log_prob(self, images, num_samples=100, seed=0):
        return self.iwae(images, num_samples=num_samples, seed=seed)

    # -------------------------------------------------------------- training
    def loss_terms(self, images, labels, training):
        """-log p(x|z) and KL per image, and their beta-weighted sum ([2] eq. 4)."""
        del labels, training
        eps = self.training_noise(
            lambda n, seed: tf.random.stateless_normal([n, self.latent_dim], seed=seed),
            tf.shape(images)[0])
        log_px, kl = self._elbo_terms(images, eps)
        return {"loss": -log_px + self.beta * kl, "reconstruction": -log_px, "kl": kl}

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        z_spec = self.z_spec()
        image_spec = self.image_spec()

        def encode(images):
            q = self.posterior(self.check_images(images))
            return {"mean": q.mean(), "log_var": 2.0 * tf.math.log(q.stddev())}

        def elbo(images, seed):
            log_px, kl = self._elbo_terms(self.check_images(images),
                                          normal_per_row(seed, self.latent_dim))
            return {"elbo": log_px - kl, "kl": kl}

        endpoints.update(
            decode=(lambda z: {"images": self._decode(z)}, [z_spec]),
            encode=(encode, [image_spec]),
            reconstruct=(lambda images: {
                "images": self._reconstruct(self.check_images(images))}, [image_spec]),
            elbo=(elbo, [image_spec, self.seed_spec()]),
        )
        return endpoints
