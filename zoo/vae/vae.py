"""VAE with fully connected encoder and decoder."""

import keras

from zoo import checks
from zoo.layers.networks import network
from zoo.registry import register
from zoo.vae.base import VAEBase


@register("vae")
class VAE(VAEBase):
    """Variational autoencoder with MLP encoder and decoder (Kingma & Welling 2014).

    The encoder maps a flattened image through `hidden_units` ReLU layers to
    the mean and log-variance of a diagonal Gaussian q(z|x); the decoder
    mirrors it. See `VAEBase` for the loss, evaluation and exports.

    Args:
      image_shape: (H, W, C) of the training images.
      latent_dim: size of z.
      hidden_units: widths of the encoder's hidden layers, reversed in the decoder.
      likelihood, beta, prior, num_levels, seed: see `VAEBase`.

    References:
      [1] Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014.
    """

    def __init__(self, image_shape=(8, 8, 1), latent_dim=16,
                 hidden_units=(256, 128), likelihood="bernoulli", beta=1.0,
                 prior="normal", num_levels=256, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         likelihood=likelihood, beta=beta, prior=prior,
                         num_levels=num_levels, seed=seed, **kwargs)
        self.hidden_units = checks.positive_ints("hidden_units", hidden_units)
        self._build_networks()

    def _build_encoder(self):
        images = keras.Input(self.image_shape)
        h = keras.layers.Flatten()(images)
        for units in self.hidden_units:
            h = keras.layers.Dense(units, activation="relu")(h)
        return network(images, keras.layers.Dense(2 * self.latent_dim)(h),
                           name="encoder")

    def _build_decoder(self):
        z = keras.Input((self.latent_dim,))
        h = z
        for units in reversed(self.hidden_units):
            h = keras.layers.Dense(units, activation="relu")(h)
        height, width, _ = self.image_shape
        params = keras.layers.Dense(height * width * self.decoder_channels)(h)
        params = keras.layers.Reshape((height, width, self.decoder_channels))(params)
        return network(z, params, name="decoder")
