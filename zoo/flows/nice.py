"""NICE: additive coupling layers and a diagonal scaling on flattened images."""

import tensorflow as tf

from zoo import checks
from zoo.flows.base import FlowModel
from zoo.layers.bijectors import DiagonalScale, Flatten
from zoo.layers.coupling import Coupling, coupling_mask, dense_conditioner
from zoo.registry import base_arguments, register

PRIORS = ("logistic", "normal")


@register("nice")
class NICE(FlowModel):
    """Non-linear Independent Components Estimation ([1]).

    The image is flattened and split by index parity; `num_couplings`
    additive couplings x_b + m(x_a) alternate the halves ([1], sec. 3.2 and
    5.1), each m an MLP, and a diagonal scaling exp(s) ends the flow ([1],
    sec. 3.3), the only term of the log-determinant. The paper's MNIST prior
    is the standard logistic ([1], eq. 5); "normal" is the alternative.

    Args:
      image_shape: (H, W, C).
      num_couplings: additive coupling layers.
      hidden_units: hidden layers of each coupling's MLP.
      prior: "logistic" or "normal".
      logit_alpha: see `FlowModel` (None keeps the paper's data scale).
      seed: seeds training-time randomness.

    References:
      [1] Dinh, Krueger, Bengio. NICE: Non-linear Independent Components
          Estimation. ICLR workshop 2015.
    """

    def __init__(self, image_shape=(28, 28, 1), num_couplings=4,
                 hidden_units=(1000, 1000, 1000, 1000, 1000), prior="logistic",
                 logit_alpha=0.05, seed=None, **kwargs):
        super().__init__(**base_arguments(FlowModel, locals()))
        self.num_couplings = checks.positive_int("num_couplings", num_couplings)
        self.hidden_units = checks.positive_ints("hidden_units", hidden_units)
        self.prior = checks.choice("prior", prior, PRIORS)
        d = self.num_dims
        steps = [Flatten(self.image_shape, name="flatten")]
        for i in range(self.num_couplings):
            steps.append(Coupling(coupling_mask((d,), "alternate", i),
                                  dense_conditioner(self.hidden_units, d, f"m{i}"),
                                  additive=True, name=f"coupling{i}"))
        steps.append(DiagonalScale(name="scale"))
        self.levels = [steps]
        self._finish_build()

    def prior_log_prob(self, z):
        if self.prior == "normal":
            return super().prior_log_prob(z)
        # log p(z) = -sum(log(1 + e^z) + log(1 + e^-z)), [1] eq. 5.
        return -tf.reduce_sum(tf.nn.softplus(z) + tf.nn.softplus(-z), axis=1)

    def prior_noise(self, seeds):
        if self.prior == "normal":
            return super().prior_noise(seeds)
        u = tf.map_fn(lambda s: tf.random.stateless_uniform(
            [self.num_dims], seed=s, minval=1e-6, maxval=1 - 1e-6),
            seeds, fn_output_signature=tf.float32)
        return tf.math.log(u) - tf.math.log1p(-u)
