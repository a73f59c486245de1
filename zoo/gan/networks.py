"""Generator and discriminator builders shared by the adversarial family.

Networks are functional Keras 3 models rebuilt by each model's `__init__`
(the model's config is its constructor arguments), so the custom layers
here need no serialization of their own.

References:
  [1] Goodfellow et al. Generative Adversarial Nets. NeurIPS 2014.
  [2] Radford, Metz, Chintala. Unsupervised Representation Learning with
      Deep Convolutional GANs. ICLR 2016.
  [3] Mirza, Osindero. Conditional Generative Adversarial Nets. 2014.
"""

import math

import keras

from zoo.layers.minibatch import MinibatchDiscrimination
from zoo.layers.networks import network
from zoo.layers.spectral import SpectralNormalization

ARCHITECTURES = ("mlp", "dcgan")
NORMALIZATIONS = ("batch", "layer", None)


class OneHot(keras.layers.Layer):
    """int labels [N] -> float one-hot [N, num_classes]."""

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def call(self, labels):
        return keras.ops.one_hot(keras.ops.cast(labels, "int32"), self.num_classes)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.num_classes,)


class LabelMaps(keras.layers.Layer):
    """int labels [N] -> one-hot planes [N, H, W, num_classes], to stack on images ([3])."""

    def __init__(self, num_classes, height, width, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.height, self.width = num_classes, height, width

    def call(self, labels):
        one_hot = keras.ops.one_hot(keras.ops.cast(labels, "int32"), self.num_classes)
        return keras.ops.broadcast_to(
            one_hot[:, None, None, :],
            (keras.ops.shape(labels)[0], self.height, self.width, self.num_classes))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, self.num_classes)


def _inputs(shape, num_classes, name):
    x = keras.Input(shape, name=name)
    if not num_classes:
        # A bare input, so calling the network with one tensor matches its structure.
        return x, x, None
    label = keras.Input((), dtype="int32", name="label")
    return [x, label], x, label


def _batchnorm(synchronized):
    # Synchronized: statistics of the global batch on every replica, the
    # same as on one device (a no-op without tf.distribute).
    return keras.layers.BatchNormalization(synchronized=synchronized)


def _normalize(h, normalization, sync_batchnorm):
    if normalization == "batch":
        return _batchnorm(sync_batchnorm)(h)
    if normalization == "layer":
        # Each sample over all of its features (H, W, C for feature maps),
        # the layer normalization of Gulrajani et al. 2017, sec. 4.
        return keras.layers.LayerNormalization(axis=list(range(1, len(h.shape))))(h)
    return h


def _kernel_layer(layer, spectral_norm):
    return SpectralNormalization(layer) if spectral_norm else layer


def mlp_generator(latent_dim, image_shape, hidden_units, num_classes=None,
                  name="generator"):
    """z [N, latent_dim] (+ label [N]) -> tanh images [N, H, W, C] ([1], [3])."""
    inputs, z, label = _inputs((latent_dim,), num_classes, "z")
    h = z if label is None else keras.layers.Concatenate()([z, OneHot(num_classes)(label)])
    for units in hidden_units:
        h = keras.layers.Dense(units, activation="relu")(h)
    h = keras.layers.Dense(math.prod(image_shape), activation="tanh")(h)
    return network(inputs, keras.layers.Reshape(image_shape)(h), name=name)


def mlp_discriminator(input_shape, hidden_units, outputs=1, num_classes=None,
                      normalization=None, output_bias=True, spectral_norm=False,
                      sync_batchnorm=True, with_features=False, minibatch_kernels=0,
                      name="discriminator"):
    """x [N, ...] (+ label [N]) -> raw scores [N, outputs]; LeakyReLU hidden
    layers; every kernel spectrally normalized when `spectral_norm`; with
    `with_features`, [N, outputs + F] with the last hidden layer appended."""
    inputs, x, label = _inputs(input_shape, num_classes, "images")
    h = keras.layers.Flatten()(x)
    if label is not None:
        h = keras.layers.Concatenate()([h, OneHot(num_classes)(label)])
    for i, units in enumerate(hidden_units):
        h = _kernel_layer(keras.layers.Dense(units), spectral_norm)(h)
        if i:
            h = _normalize(h, normalization, sync_batchnorm)
        h = keras.layers.LeakyReLU(0.2)(h)
    return network(inputs, _head(h, outputs, output_bias, spectral_norm, with_features,
                                         minibatch_kernels),
                   name=name)


def _head(h, outputs, output_bias, spectral_norm, with_features, minibatch_kernels=0):
    """The linear head on features h; with_features appends h (flattened)
    to its outputs, for losses on the discriminator's features; with
    minibatch_kernels, the head also reads minibatch-discrimination features."""
    head = _kernel_layer(keras.layers.Dense(outputs, use_bias=output_bias), spectral_norm)
    out = head(MinibatchDiscrimination(minibatch_kernels, 5)(h) if minibatch_kernels else h)
    return keras.layers.Concatenate()([out, h]) if with_features else out


def conv_generator(latent_dim, image_shape, filters, num_classes=None,
                   sync_batchnorm=True, name="generator"):
    """DCGAN generator ([2], sec. 3): project z, then stride-2 transposed
    convolutions with batchnorm and ReLU, tanh output, no pooling.

    Starts from a ceil(H / 2^L) x ceil(W / 2^L) grid with L = len(filters)
    and crops to (H, W), so 8x8, 28x28 and 32x32 images all work.
    """
    height, width, channels = image_shape
    scale = 2 ** len(filters)
    h0, w0 = math.ceil(height / scale), math.ceil(width / scale)
    inputs, z, label = _inputs((latent_dim,), num_classes, "z")
    h = z if label is None else keras.layers.Concatenate()([z, OneHot(num_classes)(label)])
    h = keras.layers.Dense(h0 * w0 * filters[-1], use_bias=False)(h)
    h = keras.layers.ReLU()(_batchnorm(sync_batchnorm)(h))
    h = keras.layers.Reshape((h0, w0, filters[-1]))(h)
    for f in reversed(filters[:-1]):
        h = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False)(h)
        h = keras.layers.ReLU()(_batchnorm(sync_batchnorm)(h))
    h = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                     activation="tanh")(h)
    extra_h, extra_w = h0 * scale - height, w0 * scale - width
    if extra_h or extra_w:
        h = keras.layers.Cropping2D(((extra_h // 2, extra_h - extra_h // 2),
                                     (extra_w // 2, extra_w - extra_w // 2)))(h)
    return network(inputs, h, name=name)


def conv_discriminator(image_shape, filters, outputs=1, num_classes=None,
                       normalization="batch", output_bias=True, spectral_norm=False,
                       sync_batchnorm=True, with_features=False, minibatch_kernels=0,
                       name="discriminator"):
    """DCGAN discriminator ([2], sec. 3): stride-2 convolutions, LeakyReLU(0.2),
    normalization on every layer but the first, no pooling, a linear head;
    every kernel spectrally normalized when `spectral_norm`.

    Conditional discriminators see the label as one-hot planes stacked on
    the image channels ([3]). `with_features` appends the flattened last
    feature map to the outputs ([N, outputs + F]).
    """
    height, width, _ = image_shape
    inputs, x, label = _inputs(image_shape, num_classes, "images")
    h = x if label is None else keras.layers.Concatenate()(
        [x, LabelMaps(num_classes, height, width)(label)])
    for i, f in enumerate(filters):
        h = _kernel_layer(keras.layers.Conv2D(f, 4, strides=2, padding="same"),
                          spectral_norm)(h)
        if i:
            h = _normalize(h, normalization, sync_batchnorm)
        h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.Flatten()(h)
    return network(inputs, _head(h, outputs, output_bias, spectral_norm, with_features,
                                         minibatch_kernels),
                   name=name)
