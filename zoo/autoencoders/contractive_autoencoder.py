"""Contractive autoencoder: penalise the Frobenius norm of the encoder's Jacobian."""

import tensorflow as tf

from zoo import checks
from zoo.autoencoders.base import AutoencoderBase
from zoo.registry import base_arguments, register


@register("contractive_autoencoder")
class ContractiveAutoencoder(AutoencoderBase):
    """Autoencoder with the contractive penalty lambda * ||J_f(x)||_F^2.

    J_f(x) = dh/dx is the encoder's Jacobian [latent_dim, H*W*C]; penalising
    its squared Frobenius norm makes the code locally insensitive to input
    directions the reconstruction does not need ([1] eq. 2-3; [2] sec. 14.7).
    The penalty is exact:
      - for a single-layer sigmoid encoder (architecture="dense",
        hidden_units=(), code_activation="sigmoid", the default, as in [1]),
        h = sigmoid(W x + b) gives the closed form
        ||J||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ij^2  ([1] eq. 4);
      - for any other encoder it is summed from `tf.GradientTape.batch_jacobian`
        (latent_dim backward passes per batch, so it costs more).
    Caveat (measured, BENCHMARKS.md): with Adam on MNIST, whose pixels are
    mostly background, the single-layer sigmoid encoder saturates within the
    first epoch and stalls at the mean image even with lambda = 0; an MLP
    encoder with a linear code (hidden_units=(256,), code_activation="linear")
    trains well with the batch-Jacobian penalty.
    There is no prior over codes, so the model cannot `sample` (it raises
    `NotImplementedError`); `serving_default` is `reconstruct`.

    Args:
      image_shape: (H, W, C).
      latent_dim: code size (may exceed the input size).
      contraction_weight: lambda (>= 0).
      architecture: "dense" or "conv".
      hidden_units: dense hidden widths; () for the closed-form encoder.
      filters: conv stage channels.
      dense_units: conv models' dense layer around the code.
      reconstruction_loss: "bce" or "l2".
      code_activation: "sigmoid", "linear", "relu" or "tanh".
      seed: seeds training-time randomness.

    References:
      [1] Rifai, Vincent, Muller, Glorot, Bengio. Contractive Auto-Encoders:
          Explicit Invariance During Feature Extraction. ICML 2011.
      [2] Goodfellow, Bengio, Courville. Deep Learning. 2016, ch. 14.
    """


    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, contraction_weight=0.1,
                 architecture="dense", hidden_units=(), filters=(32, 64),
                 dense_units=256, reconstruction_loss="bce",
                 code_activation="sigmoid", seed=None, **kwargs):
        super().__init__(**base_arguments(AutoencoderBase, locals()))
        self.contraction_weight = checks.non_negative_float("contraction_weight",
                                                     contraction_weight)
        self._build_networks()

    @property
    def closed_form(self):
        """True when the penalty uses [1] eq. 4 instead of a batch Jacobian."""
        return (self.architecture == "dense" and not self.hidden_units
                and self.code_activation == "sigmoid")

    def jacobian_norm(self, images):
        """||J_f(x)||_F^2 per image, float32 [N], for images [N, H, W, C]."""
        return self._jacobian_norm(self.check_images(images))

    def _jacobian_norm(self, x):
        if self.closed_form:
            h = self.encoder(x)
            w_norms = tf.reduce_sum(tf.square(self.encoder.get_layer("code").kernel), 0)
            return tf.reduce_sum(tf.square(h * (1.0 - h)) * w_norms, axis=-1)
        with tf.GradientTape() as tape:
            tape.watch(x)
            h = self.encoder(x)
        jacobian = tape.batch_jacobian(h, x)  # [N, latent_dim, H, W, C]
        return tf.reduce_sum(tf.square(jacobian), axis=[1, 2, 3, 4])

    def _penalty(self, inputs, code):
        del code
        return self.contraction_weight * self._jacobian_norm(inputs)
