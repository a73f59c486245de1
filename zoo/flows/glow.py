"""Glow: actnorm, invertible 1x1 convolutions and affine couplings, multi-scale."""

from zoo import checks
from zoo.errors import ConfigError
from zoo.flows.base import FlowModel
from zoo.flows.realnvp import check_scales
from zoo.layers.bijectors import ActNorm, Invertible1x1, Squeeze
from zoo.layers.coupling import Coupling, conv_conditioner, coupling_mask
from zoo.registry import base_arguments, register


@register("glow")
class Glow(FlowModel):
    """Generative flow with invertible 1x1 convolutions ([1]).

    `num_scales` levels, each a squeeze and `steps_per_scale` steps of
    actnorm (initialized from the first training batch, [1] sec. 3.1), an
    invertible 1x1 convolution (LU-decomposed with `lu_decomposed`, [1]
    sec. 3.2) and an affine coupling on the channel halves ([1] sec. 3.3),
    with half of the channels factored out between levels ([1] fig. 2).
    With num_scales=0 (e.g. 2-D points, 1x1xC) there is one level and no
    squeeze. `sample(..., temperature=T)` scales the prior's noise ([1]
    sec. 5.4). Data enter through the logit pre-processing of `FlowModel`.

    Args:
      image_shape: (H, W, C).
      num_scales: levels with a squeeze; None: as many as keep (H, W) even,
        at most 3 (0 for points).
      steps_per_scale: flow steps per level ([1]: K = 32).
      hidden_channels: width of each coupling's network ([1]: 512).
      lu_decomposed: the LU parameterization of the 1x1 convolutions.
      logit_alpha: see `FlowModel`.
      seed: seeds the initial rotations and training-time randomness.

    References:
      [1] Kingma, Dhariwal. Glow: Generative Flow with Invertible 1x1
          Convolutions. NeurIPS 2018.
    """

    factor_out = True

    def __init__(self, image_shape=(28, 28, 1), num_scales=None, steps_per_scale=8,
                 hidden_channels=64, lu_decomposed=True, logit_alpha=0.05, seed=None,
                 **kwargs):
        super().__init__(**base_arguments(FlowModel, locals()))
        self.num_scales = check_scales(num_scales, self.image_shape, 2)
        self.steps_per_scale = checks.positive_int("steps_per_scale", steps_per_scale)
        self.hidden_channels = checks.positive_int("hidden_channels", hidden_channels)
        self.lu_decomposed = bool(lu_decomposed)
        shape = self.image_shape
        if self.num_scales == 0 and shape[-1] < 2:
            raise ConfigError(f"glow with num_scales=0 couples channels and needs C >= 2; "
                              f"image_shape {shape} has {shape[-1]}")
        self.levels = []
        for s in range(max(self.num_scales, 1)):
            level = []
            if self.num_scales:
                level.append(Squeeze())
                shape = (shape[0] // 2, shape[1] // 2, shape[2] * 4)
            for k in range(self.steps_per_scale):
                i = s * self.steps_per_scale + k
                level += [ActNorm(name=f"actnorm{i}"),
                          Invertible1x1(shape[-1], self.lu_decomposed, seed=(seed or 0) + i,
                                        name=f"conv1x1_{i}"),
                          Coupling(coupling_mask(shape, "channel", 0),
                                   conv_conditioner(self.hidden_channels, 2 * shape[-1],
                                                    f"nn{i}"), name=f"coupling{i}")]
            self.levels.append(level)
            shape = shape[:2] + (shape[2] - shape[2] // 2,)
        self._finish_build()
