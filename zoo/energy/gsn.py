"""Generative stochastic network: a denoising autoencoder run as a Markov chain."""

import tensorflow as tf

from zoo import checks
from zoo.autoencoders.denoising_autoencoder import DenoisingAutoencoder, corrupt
from zoo.energy.base import ChainSampling
from zoo.energy.chains import bernoulli, row_uniform
from zoo.energy.units import normal_from
from zoo.registry import base_arguments, register

# Draw indices of chain step t: 4t for the corruption (Gaussian noise uses
# 8t and 8t + 1), 4t + 3 for the sample; never equal for any two steps.
_FINAL = -5


@register("gsn")
class GSN(ChainSampling, DenoisingAutoencoder):
    """The zoo's denoising autoencoder, trained with walk-back and sampled by
    alternating corruption C(x~ | x) and reconstruction P(x | x~) ([1], [2]).

    If P(x | x~) is a consistent estimator of the true conditional, the chain
    x_t -> x~_t ~ C(. | x_t) -> x_{t+1} ~ P(. | x~_t) has the data
    distribution as its stationary distribution ([1] thm. 1). Walk-back
    ([1] sec. 3.4) trains on the chain's own excursions: from x it draws
    x~_1 ~ C(. | x), x_1 ~ P(. | x~_1), x~_2 ~ C(. | x_1), ... and sums
    -log P(x | x~_k) over the `walkback` steps, so the reconstruction learns
    to pull back the states the chain wanders into, not only single-step
    corruptions. With "bce", P is a product of Bernoullis and the chain's
    states are binary draws; with "l2" the state is the reconstruction.

    `sample` runs `sampling_steps` steps from uniform noise and returns the
    means P(x | C(x_T)) ("draws" with `draw=True`: x_T). Everything else
    (corruptions, `denoise`, `reconstruct`, the exports) is the denoising
    autoencoder's; `serving_default` becomes the sampler.

    Args:
      walkback: corruption-reconstruction steps per training example (1 is
        the plain denoising autoencoder).
      sampling_steps, chain_signatures: see `zoo.energy.base`.
      the others: see `denoising_autoencoder`.

    References:
      [1] Bengio, Yao, Alain, Vincent. Generalized Denoising Auto-Encoders as
          Generative Models. NeurIPS 2013.
      [2] Bengio, Thibodeau-Laufer, Alain, Yosinski. Deep Generative
          Stochastic Networks Trainable by Backprop. ICML 2014.
    """

    def __init__(self, image_shape=(8, 8, 1), latent_dim=64, noise="salt_and_pepper",
                 noise_level=0.3, walkback=3, sampling_steps=100,
                 chain_signatures=(10, 1000), architecture="dense",
                 hidden_units=(256, 128), filters=(32, 64), dense_units=256,
                 reconstruction_loss="bce", code_activation="linear", seed=None, **kwargs):
        super().__init__(**base_arguments(DenoisingAutoencoder, locals()))
        self.walkback = checks.positive_int("walkback", walkback)
        self._init_chains(sampling_steps, chain_signatures)

    # ------------------------------------------------------------- training
    def _draw(self, means, uniforms):
        if self.reconstruction_loss == "bce":
            return bernoulli(means, uniforms)
        return means

    def loss_terms(self, images, labels, training):
        del labels
        if not training:
            return super().loss_terms(images, None, training)
        shape = tf.shape(images)
        state, total, first = images, 0.0, None
        for k in range(self.walkback):
            noisy = self._corrupt(state, training=True)
            logits = self.decoder(self.encoder(noisy, training=True), training=True)
            error = self.reconstruction_error(images, logits)
            total += error
            first = error if first is None else first
            if k + 1 < self.walkback:
                uniforms = self.training_noise(
                    lambda n, seed: tf.random.stateless_uniform(
                        tf.concat([[n], shape[1:]], 0), seed), shape[0])
                state = tf.stop_gradient(self._draw(self._output(logits), uniforms))
        return {"loss": total, "reconstruction": first}

    # -------------------------------------------------------------- chains
    def _corrupt_keyed(self, x, keys, step):
        # The layout of `corruption_draws`, from per-row keys.
        size = self.num_dims if self.noise == "gaussian" else 2 * self.num_dims
        if self.noise == "gaussian":
            draws = normal_from(keys, step, size)
            draws = tf.reshape(draws, tf.shape(x))
        else:
            draws = row_uniform(keys, step, size)
            draws = tf.reshape(draws, tf.concat([tf.shape(x)[:1], [2], tf.shape(x)[1:]], 0))
        return corrupt(x, self.noise, self.noise_level, draws=draws)

    def _chain_start(self, keys):
        return tf.reshape(row_uniform(keys, -1, self.num_dims), (-1,) + self.image_shape)

    def _chain_step(self, t, x, keys):
        means = self._reconstruct(self._corrupt_keyed(x, keys, 4 * t))
        uniforms = tf.reshape(row_uniform(keys, 4 * t + 3, self.num_dims), tf.shape(x))
        return self._draw(means, uniforms)

    def _chain_images(self, x, keys):
        return {"images": self._reconstruct(self._corrupt_keyed(x, keys, _FINAL)),
                "draws": x}

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        endpoints["serving_default"] = (
            lambda seed: self._run(seed, self.sampling_steps), [self.seed_spec()])
        return endpoints
