"""Shared machinery of the autoencoder family: networks, loss, train step, export.

A deterministic autoencoder is an encoder f: x -> h (the code) and a decoder
g: h -> x_hat trained to minimise L(x, g(f(x~))) + Omega, where x~ is the
input the encoder sees (x itself, or a corrupted copy for the denoising
model) and Omega a family member's regularizer ([1] ch. 14). Subclasses set
the regularizer (`_penalty`), the corruption (`_corrupt`) and their own
constructor arguments; this base builds the networks, tracks the metrics and
declares the exports.

These models have no prior over codes, so they cannot sample: `sample`
raises `NotImplementedError` and the exported `serving_default` is
`reconstruct`.

References:
  [1] Goodfellow, Bengio, Courville. Deep Learning. MIT Press 2016, ch. 14.
  [2] Hinton, Salakhutdinov. Reducing the Dimensionality of Data with
      Neural Networks. Science 313, 2006.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.errors import ConfigError
from zoo.layers.networks import conv_downsampler, conv_upsampler, dense_stack, network

ARCHITECTURES = ("dense", "conv")
RECONSTRUCTION_LOSSES = ("bce", "l2")
CODE_ACTIVATIONS = ("linear", "sigmoid", "relu", "tanh")


class AutoencoderBase(GenerativeModel):
    """A deterministic autoencoder with dense or convolutional networks.

    Dense: Flatten -> `hidden_units` ReLU layers -> Dense(latent_dim,
    code_activation); the decoder mirrors it. Conv: stride-2 3x3 ReLU
    convolutions (`filters`) -> Dense(dense_units) -> Dense(latent_dim);
    the decoder mirrors it with transposed convolutions. The decoder ends in
    logits; images are their sigmoid.

    Reconstruction loss per image, summed over pixels ([1] sec. 14.1):
    "bce" is the binary cross-entropy of the pixels in [0, 1] against the
    decoder's Bernoulli means (the natural choice for [0, 1] images), "l2"
    the squared error.

    Args:
      image_shape: (H, W, C).
      latent_dim: code size.
      architecture: "dense" or "conv".
      hidden_units: dense widths, reversed in the decoder ("dense"); may be
        empty for a single-layer encoder and decoder.
      filters: channels of each stride-2 stage ("conv").
      dense_units: width of the dense layer around the code ("conv").
      reconstruction_loss: "bce" or "l2".
      code_activation: "linear", "sigmoid", "relu" or "tanh".
      seed: seeds training-time randomness.
    """

    hub_endpoint = "encode"
    #: Subclasses that must be undercomplete reject latent_dim >= H*W*C.
    undercomplete = False
    #: The decoder's output is linear (clipped to [0, 1] for display) instead
    #: of a sigmoid; only the linear autoencoder sets it.
    linear_output = False

    def __init__(self, image_shape, latent_dim, architecture="dense",
                 hidden_units=(256, 128), filters=(32, 64), dense_units=256,
                 reconstruction_loss="bce", code_activation="linear", seed=None,
                 **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.latent_dim = checks.positive_int("latent_dim", latent_dim)
        if self.undercomplete and self.latent_dim >= self.num_dims:
            raise ConfigError(
                f"{self.registered_name or type(self).__name__} is undercomplete: "
                f"latent_dim must be smaller than the input size H*W*C="
                f"{self.num_dims}, got {self.latent_dim}")
        self.architecture = checks.choice("architecture", architecture, ARCHITECTURES)
        self.hidden_units = checks.positive_ints("hidden_units", hidden_units,
                                                 allow_empty=True)
        self.filters = checks.positive_ints("filters", filters)
        self.dense_units = checks.positive_int("dense_units", dense_units)
        self.reconstruction_loss = checks.choice(
            "reconstruction_loss", reconstruction_loss, RECONSTRUCTION_LOSSES)
        self.code_activation = checks.choice("code_activation", code_activation,
                                             CODE_ACTIVATIONS)

    def _build_networks(self):
        """Builds encoder and decoder; subclasses call it at the end of __init__."""
        self.encoder = self._build_encoder()
        self.decoder = self._build_decoder()
        self.built = True

    def _build_encoder(self):
        images = keras.Input(self.image_shape)
        if self.architecture == "dense":
            h = dense_stack(keras.layers.Flatten()(images), self.hidden_units)
        else:
            h = conv_downsampler(images, self.filters)
            h = keras.layers.Dense(self.dense_units, activation="relu")(h)
        code = keras.layers.Dense(self.latent_dim, activation=self.code_activation,
                                  name="code")(h)
        return network(images, code, name="encoder")

    def _build_decoder(self):
        z = keras.Input((self.latent_dim,))
        if self.architecture == "dense":
            h = dense_stack(z, reversed(self.hidden_units))
            logits = keras.layers.Dense(self.num_dims, name="logits")(h)
            logits = keras.layers.Reshape(self.image_shape)(logits)
        else:
            h = keras.layers.Dense(self.dense_units, activation="relu")(z)
            logits = conv_upsampler(h, self.image_shape, self.filters,
                                    self.image_shape[-1])
        return network(z, logits, name="decoder")

    # ----------------------------------------------------------------- model
    def call(self, inputs, training=False):
        return self._reconstruct(inputs)

    def _encode(self, images):
        return self.encoder(images)

    def _output(self, logits):
        """Images in [0, 1] from decoder outputs."""
        if self.linear_output:
            return tf.clip_by_value(logits, 0.0, 1.0)
        return tf.sigmoid(logits)

    def _decode(self, z):
        return self._output(self.decoder(z))

    def _reconstruct(self, images):
        return self._decode(self.encoder(images))

    def figures(self, images, seed=0):
        """Test images next to their reconstructions: each row 8 pairs."""
        del seed
        x = np.asarray(images, np.float32)[:32]
        pairs = np.stack([x, self.reconstruct(x).numpy()], 1)
        return {"reconstructions": (pairs.reshape((-1,) + x.shape[1:]), 16)}

    # -------------------------------------------------------------- training
    def reconstruction_error(self, images, logits):
        """Per-image reconstruction loss [N], summed over pixels."""
        if self.reconstruction_loss == "bce":
            per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=images,
                                                                logits=logits)
        else:
            decoded = logits if self.linear_output else tf.sigmoid(logits)
            per_pixel = tf.square(decoded - images)
        return tf.reduce_sum(per_pixel, axis=[1, 2, 3])

    def _corrupt(self, images, training):
        """The encoder's input x~ for clean images x (identity by default)."""
        del training
        return images

    def _penalty(self, inputs, code):
        """The regularizer Omega per image [N] (or a batch statistic), or None."""
        del inputs, code
        return None

    @property
    def metric_names(self):
        names = ("loss", "reconstruction")
        has_penalty = type(self)._penalty is not AutoencoderBase._penalty
        return names + ("penalty",) if has_penalty else names

    def loss_terms(self, images, labels, training):
        del labels
        inputs = self._corrupt(images, training)
        code = self.encoder(inputs, training=training)
        reconstruction = self.reconstruction_error(
            images, self.decoder(code, training=training))
        terms = {"loss": reconstruction, "reconstruction": reconstruction}
        penalty = self._penalty(inputs, code)
        if penalty is not None:
            terms.update(loss=reconstruction + penalty, penalty=penalty)
        return terms

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        """`encode` images -> {"code"}, `decode` z -> {"images"}, `reconstruct`
        images -> {"images"} (also `serving_default`); `__call__` is `encode`."""
        endpoints = super().serving_endpoints()
        image_spec = self.image_spec()

        def reconstruct(images):
            return {"images": self._reconstruct(self.check_images(images))}

        endpoints.update(
            serving_default=(reconstruct, [image_spec]),
            encode=(lambda images: {"code": self._encode(self.check_images(images))},
                    [image_spec]),
            decode=(lambda z: {"images": self._decode(z)}, [self.z_spec()]),
            reconstruct=(reconstruct, [image_spec]),
        )
        return endpoints
