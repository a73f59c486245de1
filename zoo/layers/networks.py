"""Network trunks shared by families: MLP stacks and a strided conv pair.

Functional-API builders on Keras 3 layers (so a model holding them tracks,
saves and restores their weights).
"""

import math

import keras


def network(inputs, outputs, name):
    """`keras.Model(inputs, outputs)` whose output is float32.

    Under a mixed-precision policy the layers compute in bfloat16/float16;
    distributions, losses and the values a model returns stay in float32,
    so the last step casts (a no-op layer is added only when needed).
    """
    if keras.backend.standardize_dtype(outputs.dtype) != "float32":
        outputs = keras.layers.Activation("linear", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name=name)


def dense_stack(h, units, activation="relu"):
    """Applies one `Dense(u, activation)` per entry of `units` to tensor `h`."""
    for u in units:
        h = keras.layers.Dense(u, activation=activation)(h)
    return h


def conv_downsampler(images, filters):
    """Stride-2 3x3 ReLU convolutions, one per entry of `filters`, then Flatten.

    Each stage halves height and width (rounding up), so any image size works.
    """
    h = images
    for f in filters:
        h = keras.layers.Conv2D(f, 3, strides=2, padding="same",
                                activation="relu")(h)
    return keras.layers.Flatten()(h)


def conv_upsampler(h, image_shape, filters, out_channels):
    """Mirror of `conv_downsampler`: [N, units] -> [N, H, W, out_channels].

    Starts from a ceil(H / 2^L) x ceil(W / 2^L) grid with `filters[-1]`
    channels, doubles it with stride-2 transposed convolutions through
    `reversed(filters)`, crops to (H, W) and ends with a linear 3x3
    convolution (logits or parameters; no activation).
    """
    height, width, _ = image_shape
    scale = 2 ** len(filters)
    h0, w0 = math.ceil(height / scale), math.ceil(width / scale)
    h = keras.layers.Dense(h0 * w0 * filters[-1], activation="relu")(h)
    h = keras.layers.Reshape((h0, w0, filters[-1]))(h)
    for f in reversed(filters):
        h = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same",
                                         activation="relu")(h)
    h = center_crop(h, height, width)
    return keras.layers.Conv2D(out_channels, 3, padding="same")(h)


def center_crop(h, height, width):
    """Crops feature maps [N, H', W', C] (H' >= height) to [N, height, width, C]."""
    extra_h, extra_w = h.shape[1] - height, h.shape[2] - width
    if extra_h or extra_w:
        h = keras.layers.Cropping2D(
            ((extra_h // 2, extra_h - extra_h // 2),
             (extra_w // 2, extra_w - extra_w // 2)))(h)
    return h
