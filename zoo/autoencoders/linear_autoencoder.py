"""Linear autoencoder, the neural-network face of PCA."""

import tensorflow as tf

from zoo.autoencoders.base import AutoencoderBase
from zoo.registry import register


@register("linear_autoencoder")
class LinearAutoencoder(AutoencoderBase):
    """Linear encoder and decoder trained with squared error.

    h = W_e x + b_e, x_hat = W_d h + b_d. With k = latent_dim < H*W*C, every
    minimum of the squared error has W_d spanning the top-k principal
    subspace of the (centred) training data, and the error surface has no
    other local minima ([1], [2]; [3] sec. 14.1). The learned basis is any
    basis of that subspace, not the principal axes themselves (the loss is
    invariant to h -> A h, x_hat unchanged, for invertible A).

    `decode`/`reconstruct` clip to [0, 1] so they return valid images; the
    loss uses the unclipped output, as PCA does. There is no prior over
    codes, so the model cannot `sample` (it raises `NotImplementedError`);
    `serving_default` is `reconstruct`.

    Args:
      image_shape: (H, W, C).
      latent_dim: k; must be smaller than H * W * C.
      seed: seeds training-time randomness.

    References:
      [1] Bourlard, Kamp. Auto-association by multilayer perceptrons and
          singular value decomposition. Biological Cybernetics 59, 1988.
      [2] Baldi, Hornik. Neural networks and principal component analysis:
          learning from examples without local minima. Neural Networks 2, 1989.
      [3] Goodfellow, Bengio, Courville. Deep Learning. 2016, ch. 14.
    """

    undercomplete = True
    linear_output = True

    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim,
                         architecture="dense", hidden_units=(),
                         reconstruction_loss="l2", code_activation="linear",
                         seed=seed, **kwargs)
        self._build_networks()

    @property
    def decoder_basis(self):
        """W_d as [H*W*C, latent_dim]: its columns span the learned subspace."""
        return tf.transpose(self.decoder.get_layer("logits").kernel)
