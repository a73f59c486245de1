"""VAE with convolutional encoder and transposed-convolution decoder."""

import math

import keras

from zoo.base import positive_int, positive_ints
from zoo.registry import register
from zoo.vae.base import VAEBase


@register("conv_vae")
class ConvVAE(VAEBase):
    """Convolutional variational autoencoder.

    The encoder halves the resolution with each entry of `filters` (stride-2
    3x3 convolutions), then a dense layer gives the mean and log-variance of
    q(z|x). The decoder starts from a ceil(H / 2^L) x ceil(W / 2^L) grid,
    doubles it with transposed convolutions and crops to (H, W), so any
    image size works (8x8 digits, 28x28 MNIST, 32x32 CIFAR-10).

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z.
      filters: channels of each stride-2 stage, reversed in the decoder.
      dense_units: width of the dense layer between convolutions and z.
      likelihood: "bernoulli", "gaussian" or "discretized_logistic".
      beta: KL weight (1 = ELBO).
      prior: "normal".
      num_levels: grey levels of the data (discretized likelihood).
      seed: seeds training-time randomness.

    References:
      [1] Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014.
    """

    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, filters=(32, 64),
                 dense_units=256, likelihood="bernoulli", beta=1.0,
                 prior="normal", num_levels=256, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         likelihood=likelihood, beta=beta, prior=prior,
                         num_levels=num_levels, seed=seed, **kwargs)
        self.filters = positive_ints("filters", filters)
        self.dense_units = positive_int("dense_units", dense_units)
        self._build_networks()

    def _build_encoder(self):
        images = keras.Input(self.image_shape)
        h = images
        for f in self.filters:
            h = keras.layers.Conv2D(f, 3, strides=2, padding="same",
                                    activation="relu")(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(self.dense_units, activation="relu")(h)
        return keras.Model(images, keras.layers.Dense(2 * self.latent_dim)(h),
                           name="encoder")

    def _build_decoder(self):
        height, width, _ = self.image_shape
        scale = 2 ** len(self.filters)
        h0, w0 = math.ceil(height / scale), math.ceil(width / scale)
        z = keras.Input((self.latent_dim,))
        h = keras.layers.Dense(self.dense_units, activation="relu")(z)
        h = keras.layers.Dense(h0 * w0 * self.filters[-1], activation="relu")(h)
        h = keras.layers.Reshape((h0, w0, self.filters[-1]))(h)
        for f in reversed(self.filters):
            h = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same",
                                             activation="relu")(h)
        extra_h, extra_w = h0 * scale - height, w0 * scale - width
        if extra_h or extra_w:
            h = keras.layers.Cropping2D(
                ((extra_h // 2, extra_h - extra_h // 2),
                 (extra_w // 2, extra_w - extra_w // 2)))(h)
        params = keras.layers.Conv2D(self.decoder_channels, 3, padding="same")(h)
        return keras.Model(z, params, name="decoder")

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, dense_units=self.dense_units)
        return config
