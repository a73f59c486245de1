"""Flow matching / rectified flow: a velocity field regressed on straight paths."""

import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.diffusion.base import DiffusionModel
from zoo.diffusion.process import SOLVERS, LinearPath, integrate
from zoo.errors import InputError
from zoo.registry import base_arguments, register

#: The network sees t * TIME_SCALE, so its sinusoidal time features span the
#: same frequencies as a DDPM's integer timesteps.
TIME_SCALE = 1000.0


@register("flow_matching")
class FlowMatching(DiffusionModel):
    """Conditional flow matching with the linear (optimal-transport) path ([1], [2]).

    Training regresses the network v(x_t, t) on the velocity of
    x_t = (1 - (1 - sigma_min) t) x_0 + t eps, u = eps - (1 - sigma_min) x_0
    ([1] eq. 23; sigma_min = 0 is [2]'s straight line), t ~ U[0, 1). Samples
    solve dx/dt = v from t = 1 (noise) to t = 0 (data) with Euler or Heun
    steps; the same ODE run forwards is `encode`, so `decode(encode(x))`
    returns x up to the solver's error.

    The model's density (by the ODE's instantaneous change of variables,
    as FFJORD computes it) is not offered: `log_prob` is not a capability,
    so no bits/dim are reported for it.

    Args:
      image_shape: (H, W, C).
      sigma_min: noise left at the data end, in [0, 1).
      solver: the default ODE solver, "euler" or "heun".
      sampling_steps: the default number of solver steps.
      ode_signatures: step counts S that get exported `sample_euler_S` and
        `sample_heun_S` signatures.
      widths, blocks_per_level, attention_levels, dropout, num_classes,
        label_dropout, ema_decay, seed: see `DiffusionModel`.

    References:
      [1] Lipman, Chen, Ben-Hamu, Nickel, Le. Flow Matching for Generative
          Modeling. ICLR 2023.
      [2] Liu, Gong, Liu. Flow Straight and Fast: Learning to Generate and
          Transfer Data with Rectified Flow. ICLR 2023.
      [3] Ho, Salimans. Classifier-Free Diffusion Guidance. 2022.
    """

    def __init__(self, image_shape=(28, 28, 1), sigma_min=0.0, solver="euler",
                 sampling_steps=50, ode_signatures=(10, 50), widths=(32, 64),
                 blocks_per_level=1, attention_levels=(1,), dropout=0.0, num_classes=None,
                 label_dropout=0.1, ema_decay=0.9999, seed=None, **kwargs):
        super().__init__(**base_arguments(DiffusionModel, locals()))
        self.interpolant = LinearPath(sigma_min)
        self.solver = checks.choice("solver", solver, SOLVERS)
        self.sampling_steps = checks.positive_int("sampling_steps", sampling_steps)
        self.ode_signatures = checks.positive_ints("ode_signatures", ode_signatures,
                                                   allow_empty=True)

    def _time_input(self, time):
        return tf.cast(time, tf.float32) * TIME_SCALE

    def _training_pair(self, x0, training):
        rows = tf.shape(x0)[0]
        t = self._noise(lambda n, s: tf.random.stateless_uniform([n], s), rows, training)
        eps = self._image_noise(rows, training)
        return self.interpolant.interpolate(x0, t, eps), t, self.interpolant.velocity_target(x0, eps)

    def _noised(self, x0, fraction, eps):
        t = tf.fill(tf.shape(x0)[:1], float(fraction))
        return self.interpolant.interpolate(x0, t, eps), t

    def _predicted_x0(self, xt, t):
        # x_t - t v recovers x_0 exactly when v is the path's velocity.
        return xt - tf.reshape(t, [-1, 1, 1, 1]) * self.predictor()(xt, t)

    def sampler_options(self, solver=None, steps=None):
        """Checked settings: `solver` "euler" or "heun", `steps` >= 1."""
        solver = self.solver if solver is None else solver
        if solver not in SOLVERS:
            raise InputError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
        steps = self.sampling_steps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise InputError(f"steps must be a positive integer, got {steps!r}")
        return {"solver": solver, "steps": int(steps)}

    def _sampler_steps(self, solver, steps):
        return 0  # the ODE draws only its start x_1

    def _generate(self, x_t, noise, predict, solver, steps):
        return integrate(predict, x_t, 1.0, 0.0, steps, solver)

    def _to_noise(self, x0, predict):
        return integrate(predict, x0, 0.0, 1.0, self.sampling_steps, self.solver)

    def _from_noise(self, x_t, predict):
        return integrate(predict, x_t, 1.0, 0.0, self.sampling_steps, self.solver)

    def serving_endpoints(self):
        """Adds `sample_euler_S` and `sample_heun_S` for each S of `ode_signatures`."""
        endpoints = super().serving_endpoints()
        for steps in self.ode_signatures:
            for solver in SOLVERS:
                endpoints[f"sample_{solver}_{steps}"] = self.sampling_endpoint(
                    solver=solver, steps=steps)
        return endpoints
