"""VAE with convolutional encoder and transposed-convolution decoder."""

import keras

from zoo import checks
from zoo.layers.networks import conv_downsampler, conv_upsampler, network
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
      likelihood, beta, prior, num_levels, seed: see `VAEBase`.

    References:
      [1] Kingma, Welling. Auto-Encoding Variational Bayes. ICLR 2014.
    """

    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, filters=(32, 64),
                 dense_units=256, likelihood="bernoulli", beta=1.0,
                 prior="normal", num_levels=256, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         likelihood=likelihood, beta=beta, prior=prior,
                         num_levels=num_levels, seed=seed, **kwargs)
        self.filters = checks.positive_ints("filters", filters)
        self.dense_units = checks.positive_int("dense_units", dense_units)
        self._build_networks()

    def _build_encoder(self):
        images = keras.Input(self.image_shape)
        h = conv_downsampler(images, self.filters)
        h = keras.layers.Dense(self.dense_units, activation="relu")(h)
        return network(images, keras.layers.Dense(2 * self.latent_dim)(h),
                           name="encoder")

    def _build_decoder(self):
        z = keras.Input((self.latent_dim,))
        h = keras.layers.Dense(self.dense_units, activation="relu")(z)
        params = conv_upsampler(h, self.image_shape, self.filters,
                                self.decoder_channels)
        return network(z, params, name="decoder")
