"""FFJORD: a continuous-time flow with a free-form MLP and stochastic traces."""

import keras
import tensorflow as tf

from zoo import checks
from zoo.flows.base import FlowModel
from zoo.layers.bijectors import Flatten, Step
from zoo.layers.ode import exact_trace, hutchinson_trace, rademacher, rk4
from zoo.layers.sampling import replica_rows, tfp_seed
from zoo.registry import base_arguments, register

# Seed of the fixed probe that evaluation uses when the trace is estimated.
_FIXED_PROBE_SEED = (1, 2**31 - 1)


class Dynamics(keras.layers.Layer):
    """f(x, t): an MLP whose every layer also sees t ([1], app. B's concat layers)."""

    def __init__(self, num_dims, hidden_units, **kwargs):
        super().__init__(**kwargs)
        self.hidden = [keras.layers.Dense(u, activation="tanh", name=f"dense{i}")
                       for i, u in enumerate(hidden_units)]
        self.out = keras.layers.Dense(num_dims, name="out")

    def build(self, input_shape):
        width = input_shape[-1]
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.units + 1
        self.out.build((None, width))

    def call(self, x, t):
        time = tf.fill([tf.shape(x)[0], 1], tf.cast(t, x.dtype))
        h = x
        for layer in self.hidden:
            h = layer(tf.concat([h, time], 1))
        return self.out(tf.concat([h, time], 1))


class ContinuousFlow(Step):
    """x(0) = data, dx/dt = f(x, t), z = x(1); log |det dz/dx| =
    integral_0^1 tr(df/dx) dt ([1], eq. 4), both by one RK4 integration.

    The trace is Hutchinson's estimate with one Rademacher probe per row,
    held over the trajectory ([1], sec. 3.1), in training, and exact
    (D products) in evaluation when D <= `exact_trace_max_dims`, else the
    estimate with a fixed probe.
    """

    def __init__(self, num_dims, hidden_units, num_steps, exact_trace_max_dims, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_dims, self.num_steps = int(num_dims), int(num_steps)
        self.exact_trace_max_dims = int(exact_trace_max_dims)
        self.dynamics = Dynamics(self.num_dims, hidden_units, name="dynamics")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.dynamics.build((None, self.num_dims + 1))

    def f(self, x, t):
        return tf.cast(self.dynamics(x, t=t), tf.float32)

    def trace_mode(self, training):
        if training or self.num_dims > self.exact_trace_max_dims:
            return "hutchinson"
        return "exact"

    def call(self, x, training=False, trace=None):
        trace = trace or self.trace_mode(training)
        if trace == "hutchinson":
            rows = tf.shape(x)[0]
            if training:
                eps = replica_rows(lambda n, s: rademacher([n, self.num_dims], s), rows,
                                   tfp_seed(self.seed_generator))
            else:
                eps = tf.broadcast_to(rademacher([self.num_dims], _FIXED_PROBE_SEED),
                                      tf.shape(x))

            def func(t, state):
                return hutchinson_trace(lambda v: self.f(v, t), state[0], eps)
        else:
            def func(t, state):
                return exact_trace(lambda v: self.f(v, t), state[0])

        z, log_det = rk4(func, (x, tf.zeros([tf.shape(x)[0]])), 0.0, 1.0, self.num_steps)
        return z, log_det

    def reverse(self, z):
        (x,) = rk4(lambda t, state: (self.f(state[0], t),), (z,), 1.0, 0.0, self.num_steps)
        return x


@register("ffjord")
class FFJORD(FlowModel):
    """Free-form Jacobian of Reversible Dynamics ([1]) on flattened images.

    One continuous flow (`ContinuousFlow`) with an MLP f(x, t) takes the
    logit-transformed data to the prior at t = 1; sampling integrates back.
    The solver is RK4 with `num_steps` fixed steps, in training and in the
    exported graph, so codes invert up to the solver's O(h^4) error. The
    paper's multiscale convolutional f and adaptive solver are not used.

    Args:
      image_shape: (H, W, C).
      hidden_units: hidden layers of f.
      num_steps: RK4 steps from t = 0 to 1.
      exact_trace_max_dims: evaluate the exact trace up to this many
        dimensions D, Hutchinson's estimate (fixed probe) above.
      logit_alpha: see `FlowModel`.
      seed: seeds the probes and training-time randomness.

    References:
      [1] Grathwohl, Chen, Bettencourt, Sutskever, Duvenaud. FFJORD:
          Free-form Continuous Dynamics for Scalable Reversible Generative
          Models. ICLR 2019.
    """

    def __init__(self, image_shape=(28, 28, 1), hidden_units=(256, 256), num_steps=8,
                 exact_trace_max_dims=64, logit_alpha=0.05, seed=None, **kwargs):
        super().__init__(**base_arguments(FlowModel, locals()))
        self.hidden_units = checks.positive_ints("hidden_units", hidden_units)
        self.num_steps = checks.positive_int("num_steps", num_steps)
        self.exact_trace_max_dims = checks.int_in_range(
            "exact_trace_max_dims", exact_trace_max_dims, 0, 1 << 20)
        self.flow = ContinuousFlow(self.num_dims, self.hidden_units, self.num_steps,
                                   self.exact_trace_max_dims, seed=seed, name="cnf")
        self.levels = [[Flatten(self.image_shape, name="flatten"), self.flow]]
        self._finish_build()

    @property
    def exact_density(self):
        return self.flow.trace_mode(training=False) == "exact"
