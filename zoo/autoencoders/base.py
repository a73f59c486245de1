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

from zoo.base import GenerativeModel, positive_int, positive_ints
from zoo.errors import ConfigError
from zoo.layers.networks import conv_downsampler, conv_upsampler, dense_stack

ARCHITECTURES = ("dense", "conv")
RECONSTRUCTION_LOSSES = ("bce", "l2")
CODE_ACTIVATIONS = ("linear", "sigmoid", "relu", "tanh")


def choice(name, value, options):
    """Validates that `value` is one of `options`."""
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, options))}, "
                          f"got {value!r}")
    return value


def non_negative_float(name, value):
    """Validates a finite number >= 0 and returns it as float."""
    try:
        value_f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not np.isfinite(value_f) or value_f < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return value_f


def open_unit_float(name, value):
    """Validates a number strictly between 0 and 1 and returns it as float."""
    try:
        value_f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in (0, 1), got {value!r}") from None
    if isinstance(value, bool) or not 0.0 < value_f < 1.0:
        raise ConfigError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return value_f


def hidden_layer_units(values):
    """Widths of the dense hidden layers; an empty tuple means none."""
    if values is None or (isinstance(values, (tuple, list)) and len(values) == 0):
        return ()
    return positive_ints("hidden_units", values)


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
    #: Constructor arguments beyond image_shape, latent_dim, seed that
    #: `get_config` records; subclasses extend it with their own.
    config_keys = ("architecture", "hidden_units", "filters", "dense_units",
                   "reconstruction_loss", "code_activation")

    def __init__(self, image_shape, latent_dim, architecture="dense",
                 hidden_units=(256, 128), filters=(32, 64), dense_units=256,
                 reconstruction_loss="bce", code_activation="linear", seed=None,
                 **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.latent_dim = positive_int("latent_dim", latent_dim)
        if self.undercomplete and self.latent_dim >= self.num_dims:
            raise ConfigError(
                f"{self.registered_name or type(self).__name__} is undercomplete: "
                f"latent_dim must be smaller than the input size H*W*C="
                f"{self.num_dims}, got {self.latent_dim}")
        self.architecture = choice("architecture", architecture, ARCHITECTURES)
        self.hidden_units = hidden_layer_units(hidden_units)
        self.filters = positive_ints("filters", filters)
        self.dense_units = positive_int("dense_units", dense_units)
        self.reconstruction_loss = choice("reconstruction_loss", reconstruction_loss,
                                          RECONSTRUCTION_LOSSES)
        self.code_activation = choice("code_activation", code_activation,
                                      CODE_ACTIVATIONS)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.penalty_tracker = keras.metrics.Mean(name="penalty")

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
        return keras.Model(images, code, name="encoder")

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
        return keras.Model(z, logits, name="decoder")

    def get_config(self):
        config = super().get_config()
        config["latent_dim"] = self.latent_dim
        config.update({k: getattr(self, k) for k in self.config_keys})
        return config

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
        """Batch-mean regularizer Omega (a scalar), or None for none."""
        del inputs, code
        return None

    @property
    def has_penalty(self):
        return type(self)._penalty is not AutoencoderBase._penalty

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.reconstruction_tracker]
        return trackers + [self.penalty_tracker] if self.has_penalty else trackers

    def _loss_terms(self, images, training):
        inputs = self._corrupt(images, training)
        code = self.encoder(inputs, training=training)
        logits = self.decoder(code, training=training)
        reconstruction = tf.reduce_mean(self.reconstruction_error(images, logits))
        penalty = self._penalty(inputs, code)
        loss = reconstruction if penalty is None else reconstruction + penalty
        if self.losses:
            loss += tf.add_n(self.losses)
        return loss, reconstruction, penalty

    def _update_metrics(self, loss, reconstruction, penalty):
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        if penalty is not None:
            self.penalty_tracker.update_state(penalty)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images = self.images_from_batch(data)
        with tf.GradientTape() as tape:
            terms = self._loss_terms(images, training=True)
        grads = tape.gradient(terms[0], self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._update_metrics(*terms)

    def test_step(self, data):
        return self._update_metrics(
            *self._loss_terms(self.images_from_batch(data), training=False))

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        """`encode` images -> {"code"}, `decode` z -> {"images"}, `reconstruct`
        images -> {"images"} (also `serving_default`); `__call__` is `encode`."""
        endpoints = super().serving_endpoints()
        image_spec = self.image_spec()
        z_spec = tf.TensorSpec((None, self.latent_dim), tf.float32, name="z")

        def reconstruct(images):
            return {"images": self._reconstruct(self.check_images(images))}

        endpoints.update(
            serving_default=(reconstruct, [image_spec]),
            encode=(lambda images: {"code": self._encode(self.check_images(images))},
                    [image_spec]),
            decode=(lambda z: {"images": self._decode(z)}, [z_spec]),
            reconstruct=(reconstruct, [image_spec]),
        )
        return endpoints
