"""Undercomplete autoencoder."""

from zoo.autoencoders.base import AutoencoderBase
from zoo.registry import base_arguments, register


@register("autoencoder")
class Autoencoder(AutoencoderBase):
    """Undercomplete autoencoder: a code smaller than the input, no regularizer.

    The bottleneck alone forces the networks to keep the most useful
    features of the data ([1] sec. 14.1; deep nonlinear version: [2]). The
    loss is the reconstruction error, L2 or binary cross-entropy, summed over
    pixels. There is no prior over codes, so the model cannot `sample`
    (it raises `NotImplementedError`); `serving_default` is `reconstruct`.

    Args:
      image_shape: (H, W, C).
      latent_dim: code size; must be smaller than H * W * C.
      architecture: "dense" (MLP) or "conv" (stride-2 convolutions).
      hidden_units: dense hidden widths, reversed in the decoder.
      filters: conv stage channels, reversed in the decoder.
      dense_units: conv models' dense layer around the code.
      reconstruction_loss: "bce" or "l2".
      code_activation: "linear", "sigmoid", "relu" or "tanh".
      seed: seeds training-time randomness.

    References:
      [1] Goodfellow, Bengio, Courville. Deep Learning. 2016, ch. 14.
      [2] Hinton, Salakhutdinov. Reducing the Dimensionality of Data with
          Neural Networks. Science 313, 2006.
    """

    undercomplete = True

    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, architecture="dense",
                 hidden_units=(256, 128), filters=(32, 64), dense_units=256,
                 reconstruction_loss="bce", code_activation="linear", seed=None,
                 **kwargs):
        super().__init__(**base_arguments(AutoencoderBase, locals()))
        self._build_networks()
