"""Generators and discriminators of the image-to-image family.

All map images in [-1, 1] and end in tanh (generators) or raw scores.

References:
  [1] Isola, Zhu, Zhou, Efros. Image-to-Image Translation with Conditional
      Adversarial Networks. CVPR 2017 (U-Net, PatchGAN).
  [2] Ledig et al. Photo-Realistic Single Image Super-Resolution Using a
      Generative Adversarial Network. CVPR 2017 (SRResNet).
  [3] Zhu, Park, Isola, Efros. Unpaired Image-to-Image Translation using
      Cycle-Consistent Adversarial Networks. ICCV 2017.
  [4] Lim, Son, Kim, Nah, Lee. Enhanced Deep Residual Networks for Single
      Image Super-Resolution (EDSR). CVPRW 2017.
"""

import keras

from zoo.gan.networks import LabelMaps
from zoo.layers.dropout import ReplicaDropout
from zoo.layers.networks import center_crop, network
from zoo.layers.subpixel import SubPixelUpsample

PATCH_KERNEL = 4


def _norm():
    return keras.layers.BatchNormalization(synchronized=True)


def unet_generator(source_shape, out_channels, filters, dropout=0.5, seed=None,
                   name="generator"):
    """The U-Net of [1] (sec. 3.1.1, appendix 6.1.1), with len(filters) levels.

    Down: 4x4 stride-2 convolutions, batchnorm (not on the first), LeakyReLU
    0.2. Up: 4x4 stride-2 transposed convolutions, batchnorm, dropout (the
    noise of [1], on the innermost half of the levels, training only), ReLU,
    each concatenated with its skip. An upsampled map larger than its skip
    (odd sizes: 7 -> 4 -> 2 -> 4 -> 8) is cropped to it, so any H, W works.
    """
    x = keras.Input(source_shape, name="images")
    h, skips = x, []
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, PATCH_KERNEL, strides=2, padding="same")(h)
        h = keras.layers.LeakyReLU(0.2)(h if i == 0 else _norm()(h))
        skips.append(h)
    for i, f in enumerate(reversed(filters[:-1])):
        h = keras.layers.Conv2DTranspose(f, PATCH_KERNEL, strides=2, padding="same")(h)
        h = _norm()(h)
        if i < max(1, len(filters) // 2) and dropout:
            h = ReplicaDropout(dropout, seed=seed)(h)
        skip = skips[-2 - i]
        h = center_crop(keras.layers.ReLU()(h), skip.shape[1], skip.shape[2])
        h = keras.layers.Concatenate()([h, skip])
    h = keras.layers.Conv2DTranspose(out_channels, PATCH_KERNEL, strides=2, padding="same")(h)
    h = center_crop(h, source_shape[0], source_shape[1])
    return network(x, keras.layers.Activation("tanh")(h), name=name)


def patch_receptive_field(stride2_layers, kernel=PATCH_KERNEL):
    """Receptive field of one PatchGAN output: `stride2_layers` k x k stride-2
    convolutions, then a stride-1 one and the stride-1 output convolution.
    Backwards from the output, r <- (r - 1) s + k; [1]'s three stride-2
    layers give 70."""
    r = kernel                      # the output convolution
    r = (r - 1) * 1 + kernel        # the stride-1 convolution
    for _ in range(stride2_layers):
        r = (r - 1) * 2 + kernel
    return r


def patch_discriminator(input_shape, filters, name="discriminator"):
    """PatchGAN ([1], sec. 3.2.2): one logit per patch of size
    `patch_receptive_field(len(filters))`, on an output grid of
    ceil(H / 2^L) x ceil(W / 2^L) with L = len(filters).

    Args:
      input_shape: (H, W, C) of what it judges (pix2pix: source and target
        stacked on the channels).
      filters: channels of the stride-2 layers; the stride-1 layer has twice
        the last.
    """
    x = keras.Input(input_shape, name="images")
    h = x
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, PATCH_KERNEL, strides=2, padding="same")(h)
        h = keras.layers.LeakyReLU(0.2)(h if i == 0 else _norm()(h))
    h = keras.layers.Conv2D(2 * filters[-1], PATCH_KERNEL, padding="same")(h)
    h = keras.layers.LeakyReLU(0.2)(_norm()(h))
    return network(x, keras.layers.Conv2D(1, PATCH_KERNEL, padding="same")(h), name=name)


def residual_generator(source_shape, out_channels, filters, blocks, upscale=1,
                       num_classes=None, batchnorm=False, name="generator"):
    """SRResNet ([2], fig. 4): 9x9 conv + PReLU, `blocks` residual blocks
    (conv-BN-PReLU-conv-BN + skip), conv-BN + a long skip, log2(upscale)
    sub-pixel x2 stages with PReLU, and a 9x9 conv to `out_channels` (tanh).
    With upscale 1 it is the resolution-preserving residual generator that
    CycleGAN uses ([3], appendix 7.2, without its down/upsampling at these
    sizes); with `num_classes`, one-hot label planes are stacked on the
    input (StarGAN's G(x, c)). `batchnorm` restores [2]'s batch
    normalization; it is off by default, as EDSR ([4]) found better for
    super-resolution, and on the digits it held SRResNet at 11.0 dB PSNR
    after 15 epochs against 19.8 dB without (bicubic: 13.2 dB).
    """
    norm = _norm if batchnorm else (lambda: (lambda h: h))
    x = keras.Input(source_shape, name="images")
    inputs, h = x, x
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs = [x, label]
        h = keras.layers.Concatenate()(
            [x, LabelMaps(num_classes, source_shape[0], source_shape[1])(label)])
    h = keras.layers.PReLU(shared_axes=[1, 2])(keras.layers.Conv2D(filters, 9, padding="same")(h))
    trunk = h
    for _ in range(blocks):
        r = keras.layers.Conv2D(filters, 3, padding="same")(h)
        r = keras.layers.PReLU(shared_axes=[1, 2])(norm()(r))
        r = norm()(keras.layers.Conv2D(filters, 3, padding="same")(r))
        h = keras.layers.Add()([h, r])
    h = keras.layers.Add()([trunk, norm()(keras.layers.Conv2D(filters, 3, padding="same")(h))])
    factor = upscale
    while factor > 1:
        h = keras.layers.PReLU(shared_axes=[1, 2])(SubPixelUpsample(filters, 2)(h))
        factor //= 2
    h = keras.layers.Conv2D(out_channels, 9, padding="same", activation="tanh")(h)
    return network(inputs, h, name=name)
