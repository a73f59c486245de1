"""Real NVP: affine couplings with checkerboard and channel masks, multi-scale."""

from zoo import checks
from zoo.errors import ConfigError
from zoo.flows.base import FlowModel
from zoo.layers.bijectors import ActNorm, Squeeze
from zoo.layers.coupling import Coupling, conv_conditioner, coupling_mask
from zoo.registry import base_arguments, register


def feasible_scales(image_shape, min_size=4, cap=3):
    """How many times (H, W) can be halved while both are even and >= min_size."""
    h, w, _ = image_shape
    scales = 0
    while scales < cap and h % 2 == 0 and w % 2 == 0 and min(h, w) >= min_size:
        h, w, scales = h // 2, w // 2, scales + 1
    return scales


def check_scales(num_scales, image_shape, min_size):
    """`num_scales`, defaulted to `feasible_scales`, or ConfigError."""
    most = feasible_scales(image_shape, min_size, cap=99)
    if num_scales is None:
        return min(most, 3)
    num_scales = checks.int_in_range("num_scales", num_scales, 0, 99)
    if num_scales > most:
        raise ConfigError(f"num_scales={num_scales} needs (H, W) = {image_shape[:2]} to "
                          f"halve {num_scales} times into even sizes >= {min_size // 2}; "
                          f"at most {most} fit")
    return num_scales


@register("realnvp")
class RealNVP(FlowModel):
    """Real-valued non-volume preserving flow ([1]).

    Each of `num_scales` scales is `couplings_per_scale` affine couplings
    with alternating checkerboard masks, a squeeze, as many with
    alternating channel masks, then half of the channels are factored out
    ([1], sec. 3.6); a final level has one more checkerboard coupling. An
    activation normalization ([2], a data-initialized per-channel affine
    bijector, in place of [1]'s batch normalization, whose running
    statistics would make train and test densities differ) follows every
    coupling. Data enter through the logit with alpha = 0.05 ([1], sec. 4.1).
    Images of one pixel (2-D points, 1x1xC) use channel masks only.

    Args:
      image_shape: (H, W, C).
      num_scales: squeezes; None: as many as keep (H, W) even and >= 2, at
        most 3 (0 for points).
      couplings_per_scale: couplings per mask type and scale ([1]: 3).
      hidden_channels: width of each coupling's convolutional network.
      logit_alpha: see `FlowModel`.
      seed: seeds training-time randomness.

    References:
      [1] Dinh, Sohl-Dickstein, Bengio. Density estimation using Real NVP.
          ICLR 2017.
      [2] Kingma, Dhariwal. Glow: Generative Flow with Invertible 1x1
          Convolutions. NeurIPS 2018.
    """

    factor_out = True

    def __init__(self, image_shape=(28, 28, 1), num_scales=None, couplings_per_scale=3,
                 hidden_channels=64, logit_alpha=0.05, seed=None, **kwargs):
        super().__init__(**base_arguments(FlowModel, locals()))
        self.num_scales = check_scales(num_scales, self.image_shape, 4)
        self.couplings_per_scale = checks.positive_int("couplings_per_scale",
                                                       couplings_per_scale)
        self.hidden_channels = checks.positive_int("hidden_channels", hidden_channels)
        h, w, c = self.image_shape
        if h * w == 1 and c < 2:
            raise ConfigError("realnvp needs at least 2 dimensions")
        self._count = 0
        shape = self.image_shape
        self.levels = []
        for _ in range(self.num_scales):
            level = self._couplings(shape, "checkerboard", self.couplings_per_scale)
            level.append(Squeeze())
            shape = (shape[0] // 2, shape[1] // 2, shape[2] * 4)
            level += self._couplings(shape, "channel", self.couplings_per_scale)
            self.levels.append(level)
            shape = shape[:2] + (shape[2] - shape[2] // 2,)
        spatial = "checkerboard" if shape[0] * shape[1] > 1 else "channel"
        self.levels.append(self._couplings(shape, spatial, self.couplings_per_scale + 1))
        self._finish_build()

    def _couplings(self, shape, kind, count):
        steps = []
        for i in range(count):
            k = self._count
            self._count += 1
            steps.append(Coupling(coupling_mask(shape, kind, i),
                                  conv_conditioner(self.hidden_channels, 2 * shape[-1],
                                                   f"st{k}"), name=f"coupling{k}"))
            steps.append(ActNorm(name=f"actnorm{k}"))
        return steps
