"""SRResNet: super-resolution by a residual network trained with squared error."""

import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.errors import ConfigError
from zoo.gan.base import to_symmetric, to_unit
from zoo.registry import register
from zoo.translation import networks
from zoo.translation.base import Translation


def upscale_factor(source_shape, image_shape):
    """The factor F in {2, 4} with image H, W = F times source H, W."""
    factor = image_shape[0] // source_shape[0]
    if factor not in (2, 4) or source_shape[0] * factor != image_shape[0] or \
            source_shape[1] * factor != image_shape[1] or source_shape[2] != image_shape[2]:
        raise ConfigError(f"super-resolution needs targets 2x or 4x the sources' size with "
                          f"the same channels; got source {source_shape}, target {image_shape}")
    return factor


@register("srresnet")
class SRResNet(Translation, GenerativeModel):
    """SRResNet ([1], sec. 2.2, fig. 4): residual blocks and sub-pixel x2
    stages (`zoo.layers.subpixel`), trained on the pixel-wise squared error
    ([1], eq. 5). It is also the pre-training of `srgan` (`--init-from`).

    Args:
      image_shape: (H, W, C) of high-resolution targets.
      source_shape: (H / F, W / F, C) of low-resolution inputs, F in {2, 4}.
      filters: channels of the residual trunk ([1]: 64).
      blocks: residual blocks ([1]: 16).
      batchnorm: [1]'s batch normalization in the blocks (off: EDSR's
        finding, and 9 dB better on the digits; `networks.residual_generator`).
      seed: unused randomness seed kept for the shared interface.

    References:
      [1] Ledig et al. Photo-Realistic Single Image Super-Resolution Using a
          Generative Adversarial Network. CVPR 2017.
    """

    example_task = "task:superres(digits,factor=2)"
    metric_names = ("loss", "psnr")

    def __init__(self, image_shape=(8, 8, 1), source_shape=(4, 4, 1), filters=32, blocks=2,
                 batchnorm=False, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.source_shape = checks.image_shape(source_shape)
        self.factor = upscale_factor(self.source_shape, self.image_shape)
        self.filters = checks.positive_int("filters", filters)
        self.blocks = checks.int_at_least("blocks", blocks, 0)
        self.batchnorm = bool(batchnorm)
        self.generator = networks.residual_generator(
            self.source_shape, self.image_shape[-1], self.filters, self.blocks, self.factor,
            batchnorm=self.batchnorm)
        self.built = True

    def _translator(self):
        return self.generator

    def loss_terms(self, images, labels, training):
        out = to_unit(self.generator(to_symmetric(labels), training=training))
        mse = tf.reduce_mean(tf.square(out - images), [1, 2, 3])
        return {"loss": mse, "psnr": tf.image.psnr(out, images, 1.0)}

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        endpoints["upscale"] = endpoints["translate"]
        return endpoints
