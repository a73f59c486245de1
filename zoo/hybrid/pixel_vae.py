"""PixelVAE: a VAE whose decoder is a small PixelCNN conditioned on z."""

import keras
import tensorflow as tf

from zoo import checks
from zoo.layers.autoregressive import MaskedConv2D
from zoo.layers.networks import conv_downsampler, conv_upsampler, network
from zoo.layers.sampling import sample_per_row
from zoo.registry import register
from zoo.vae.base import VAEBase


@register("pixel_vae")
class PixelVAE(VAEBase):
    """PixelVAE ([1]): q(z|x) as in `conv_vae`, and an autoregressive decoder

        p(x|z) = prod_i p(x_i | x_<i, z),

    a PixelCNN over binarized pixels whose every masked layer adds a 1x1
    projection of a feature map m(z) [N, H, W, F] that the `conv_vae`
    upsampler computes from z ([1], sec. 3: the latent enters each layer).
    Masked convolutions keep p(x_i | .) blind to x_>=i; m(z) does not read
    x, so the decoder stays causal, and `log_px` is exact. The ELBO and the
    IWAE bound are therefore in the same column as the other VAEs' (same
    dynamic binarization). A strong decoder can model x without z: the KL
    per latent unit (`kl_per_dim`, and `active_units` in the evaluation)
    shows which units are still used ([1], sec. 4; [2]).

    `sample` draws z from the prior, then the pixels one at a time with
    uniforms from the seed row (inverse CDF), so row i depends on seed row
    i alone. `decode(z)` is deterministic: each pixel takes its most
    likely value given the pixels before it.

    Args:
      image_shape: (H, W, C).
      latent_dim: size of z.
      filters: channels of the encoder's stride-2 stages (reversed in the
        upsampler of m(z)).
      dense_units: width of the dense layers next to z.
      pixel_filters: channels of the masked layers and of m(z).
      pixel_layers: masked layers after the first (mask "A", 5x5) one.
      beta, prior, seed: see `VAEBase` (likelihood is Bernoulli).

    References:
      [1] Gulrajani et al. PixelVAE: A Latent Variable Model for Natural
          Images. ICLR 2017.
      [2] Chen et al. Variational Lossy Autoencoder. ICLR 2017.
    """

    samples_are_means = False

    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, filters=(32, 64),
                 dense_units=256, pixel_filters=32, pixel_layers=2, beta=1.0,
                 prior="normal", seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         likelihood="bernoulli", beta=beta, prior=prior, num_levels=2,
                         seed=seed, **kwargs)
        self.filters = checks.positive_ints("filters", filters)
        self.dense_units = checks.positive_int("dense_units", dense_units)
        c = self.image_shape[-1]
        self.pixel_filters = checks.multiple_of("pixel_filters", pixel_filters, c,
                                                "channels")
        self.pixel_layers = checks.int_at_least("pixel_layers", pixel_layers, 0)
        self.masked = [MaskedConv2D(self.pixel_filters, 5, "A", c, name="masked0")] + [
            MaskedConv2D(self.pixel_filters, 3, "B", c, name=f"masked{i + 1}")
            for i in range(self.pixel_layers)]
        self.conditioners = [keras.layers.Conv2D(self.pixel_filters, 1, name=f"cond{i}")
                             for i in range(len(self.masked))]
        self.pixel_out = MaskedConv2D(c, 1, "B", c, name="pixel_out")
        self._build_networks()
        self._pixel_logits(tf.zeros((1,) + self.image_shape),
                           tf.zeros((1,) + self.image_shape[:2] + (self.pixel_filters,)))

    def _build_encoder(self):
        images = keras.Input(self.image_shape)
        h = conv_downsampler(images, self.filters)
        h = keras.layers.Dense(self.dense_units, activation="relu")(h)
        return network(images, keras.layers.Dense(2 * self.latent_dim)(h), name="encoder")

    def _build_decoder(self):
        """z -> the conditioning map m(z) [N, H, W, pixel_filters]."""
        z = keras.Input((self.latent_dim,))
        h = keras.layers.Dense(self.dense_units, activation="relu")(z)
        return network(z, conv_upsampler(h, self.image_shape, self.filters,
                                         self.pixel_filters), name="decoder")

    # ------------------------------------------------------------ decoder
    def _pixel_logits(self, x, m):
        """Bernoulli logits [N, H, W, C] of each pixel given the pixels
        before it in `x` (binary, [N, H, W, C]) and the map m(z)."""
        h = 2.0 * x - 1.0
        for masked, conditioner in zip(self.masked, self.conditioners):
            h = tf.nn.relu(masked(h) + conditioner(m))
        return tf.cast(self.pixel_out(h), tf.float32)

    def log_px(self, z, images):
        logits = self._pixel_logits(images, self.decoder(z))
        return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=images, logits=logits), [1, 2, 3])

    @tf.function(reduce_retracing=True)
    def _autoregress(self, m, noise):
        """Pixels [N, H, W, C] drawn in raster order: x_i = 1 where
        noise_i < p(x_i = 1 | x_<i, z) (noise 0.5 gives the most likely)."""
        h, w, c = self.image_shape
        positions = tf.reshape(tf.eye(h * w * c), [h * w * c, h, w, c])

        def step(i, canvas):
            p = tf.sigmoid(self._pixel_logits(canvas, m))
            value = tf.cast(noise < p, tf.float32)
            return i + 1, canvas + positions[i] * value

        _, canvas = tf.while_loop(lambda i, _: i < h * w * c, step,
                                  (0, tf.zeros_like(noise)))
        return canvas

    def _decode(self, z):
        m = self.decoder(z)
        return self._autoregress(m, tf.fill(tf.concat([tf.shape(m)[:1], self.image_shape], 0), 0.5))

    def _sample_outputs(self, seeds, labels=None):
        del labels
        z = sample_per_row(self.prior, seeds)
        noise = tf.map_fn(
            lambda s: tf.random.stateless_uniform(
                self.image_shape, tf.random.experimental.stateless_fold_in(s, 1)),
            seeds, fn_output_signature=tf.float32)
        return {"images": self._autoregress(self.decoder(z), noise)}
