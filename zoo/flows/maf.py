"""MAF: stacked MADE-parameterized affine autoregressive transforms."""

from zoo import checks
from zoo.flows.base import FlowModel
from zoo.layers.bijectors import ActNorm, Flatten
from zoo.layers.coupling import AutoregressiveAffine
from zoo.registry import base_arguments, register

DIRECTIONS = ("maf", "iaf")


@register("maf")
class MAF(FlowModel):
    """Masked Autoregressive Flow ([1]).

    The flattened image passes `num_layers` affine autoregressive steps,
    each parameterized by a MADE ([2]) and conditioning in the reverse
    order of the one before ([1] sec. 3.1); each step starts as the
    identity (zero output layer). `normalization` adds an activation
    normalization after each step (in place of [1]'s batch normalization,
    see `RealNVP`); it is off by default: per dimension, it gives pixels
    that are constant in the first batch (MNIST's border) a huge scale, and
    training diverged on mnist-10k. Adam's learning rate defaults to 1e-4
    ([1] sec. 4; at 1e-3 training was unstable). direction "maf" evaluates
    the density in one pass per step
    and samples in D; "iaf" ([3]) is the inverse: one-pass sampling,
    D-pass density (so training costs D times more).

    Args:
      image_shape: (H, W, C).
      num_layers: autoregressive steps ([1] MNIST: 5).
      hidden_units: hidden layers of each MADE ([1]: one of 1024).
      direction: "maf" or "iaf".
      normalization: actnorm after each step.
      logit_alpha: see `FlowModel`.
      seed: seeds training-time randomness.

    References:
      [1] Papamakarios, Pavlakou, Murray. Masked Autoregressive Flow for
          Density Estimation. NeurIPS 2017.
      [2] Germain, Gregor, Murray, Larochelle. MADE: Masked Autoencoder
          for Distribution Estimation. ICML 2015.
      [3] Kingma et al. Improved Variational Inference with Inverse
          Autoregressive Flow. NeurIPS 2016.
    """

    optimizer_defaults = {"optimizer": ("Adam", {"learning_rate": 1e-4})}

    def __init__(self, image_shape=(28, 28, 1), num_layers=5, hidden_units=(1024,),
                 direction="maf", normalization=False, logit_alpha=0.05, seed=None, **kwargs):
        super().__init__(**base_arguments(FlowModel, locals()))
        self.num_layers = checks.positive_int("num_layers", num_layers)
        self.hidden_units = checks.positive_ints("hidden_units", hidden_units)
        self.direction = checks.choice("direction", direction, DIRECTIONS)
        self.normalization = bool(normalization)
        steps = [Flatten(self.image_shape, name="flatten")]
        for i in range(self.num_layers):
            steps.append(AutoregressiveAffine(self.num_dims, self.hidden_units,
                                              reverse_order=i % 2 == 1,
                                              direction=self.direction, name=f"made{i}"))
            if self.normalization:
                steps.append(ActNorm(name=f"actnorm{i}"))
        self.levels = [steps]
        self._finish_build()
