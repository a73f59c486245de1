"""Sparse autoencoder: L1 and KL sparsity penalties on the code."""

import tensorflow as tf

from zoo import checks
from zoo.autoencoders.base import AutoencoderBase
from zoo.errors import ConfigError
from zoo.losses import bernoulli_kl
from zoo.registry import base_arguments, register


@register("sparse_autoencoder")
class SparseAutoencoder(AutoencoderBase):
    """Autoencoder whose codes are pushed towards sparsity.

    Loss per batch: reconstruction + l1 * mean_n sum_j |h_nj|
    + sparsity_weight * sum_j KL(rho || rho_hat_j), where rho_hat_j is unit
    j's mean activation over the batch ([1] sec. 14.2.1; the KL form from
    [2], sec. 2.3). The KL term needs codes in (0, 1), so it requires
    code_activation="sigmoid". The code may be larger than the input
    (overcomplete): the penalty, not a bottleneck, limits what is copied.
    There is no prior over codes, so the model cannot `sample` (it raises
    `NotImplementedError`); `serving_default` is `reconstruct`.

    Args:
      image_shape: (H, W, C).
      latent_dim: code size.
      l1: weight of the L1 penalty on the code (>= 0).
      sparsity_weight: weight beta of the KL sparsity penalty (>= 0; 0 = off).
      rho: target mean activation of each code unit, in (0, 1).
      architecture: "dense" or "conv".
      hidden_units: dense hidden widths.
      filters: conv stage channels.
      dense_units: conv models' dense layer around the code.
      reconstruction_loss: "bce" or "l2".
      code_activation: "relu" (default; exact zeros under L1), "sigmoid"
        (needed by the KL term), "linear" or "tanh".
      seed: seeds training-time randomness.

    References:
      [1] Goodfellow, Bengio, Courville. Deep Learning. 2016, ch. 14.
      [2] Ng. Sparse autoencoder. CS294A lecture notes, Stanford, 2011.
    """


    def __init__(self, image_shape=(8, 8, 1), latent_dim=16, l1=1e-3,
                 sparsity_weight=0.0, rho=0.05, architecture="dense",
                 hidden_units=(256, 128), filters=(32, 64), dense_units=256,
                 reconstruction_loss="bce", code_activation="relu", seed=None,
                 **kwargs):
        super().__init__(**base_arguments(AutoencoderBase, locals()))
        self.l1 = checks.non_negative_float("l1", l1)
        self.sparsity_weight = checks.non_negative_float("sparsity_weight", sparsity_weight)
        self.rho = checks.open_unit_float("rho", rho)
        if self.sparsity_weight > 0 and self.code_activation != "sigmoid":
            raise ConfigError(
                "the KL sparsity penalty (sparsity_weight > 0) compares mean "
                "activations with rho in (0, 1), so it needs "
                f"code_activation='sigmoid', got {self.code_activation!r}")
        self._build_networks()

    def _penalty(self, inputs, code):
        del inputs
        penalty = self.l1 * tf.reduce_sum(tf.abs(code), axis=-1)
        if self.sparsity_weight > 0:
            rho_hat = tf.reduce_mean(code, axis=0)
            penalty += self.sparsity_weight * tf.reduce_sum(
                bernoulli_kl(self.rho, rho_hat))
        return penalty
