"""One RBM layer's maths and the stored log Z, shared by `rbm` and `dbn`."""

import math

import keras
import tensorflow as tf

from zoo import checks
from zoo.energy import partition
from zoo.energy.chains import bernoulli, row_keys, row_uniform, run_chain
from zoo.errors import InputError


def normal_from(keys, step, size):
    """N(0, 1) float32 [N, size] per row, by Box-Muller on two hashed uniforms."""
    u1 = row_uniform(keys, 2 * step, size)
    u2 = row_uniform(keys, 2 * step + 1, size)
    return tf.sqrt(-2.0 * tf.math.log1p(-u1)) * tf.cos(2.0 * math.pi * u2)


def keys_for_rows(rows, seed):
    """uint32 keys for `rows` rows from one stateless int32 [2] seed."""
    seed = tf.cast(seed, tf.int32)
    return row_keys(tf.stack([tf.fill([rows], seed[0]), seed[1] + tf.range(rows)], 1))


class RBMParameters:
    """The maths of one RBM layer on flat visible vectors, shared by `rbm`
    and the layers of `dbn`. Gaussian visible units are in units of their
    standard deviation (the caller rescales).

    Energy ([1] eq. 1; [2] sec. 13.2 for Gaussian units):
      binary:    E(v, h) = -b.v - c.h - v.W.h
      Gaussian:  E(v, h) = |v - b|^2 / 2 - c.h - v.W.h
    """

    def __init__(self, owner, num_visible, num_hidden, visible, prefix=""):
        self.visible = visible
        self.num_visible, self.num_hidden = num_visible, num_hidden
        init = keras.initializers.RandomNormal(stddev=0.01)  # [2] sec. 8
        self.w = owner.add_weight((num_visible, num_hidden), init, name=prefix + "weights")
        self.b = owner.add_weight((num_visible,), "zeros", name=prefix + "visible_bias")
        self.c = owner.add_weight((num_hidden,), "zeros", name=prefix + "hidden_bias")

    @property
    def params(self):
        return self.w, self.b, self.c

    def hidden_probs(self, v):
        return tf.sigmoid(self.c + tf.matmul(v, self.w))

    def visible_mean(self, h):
        field = self.b + tf.matmul(h, self.w, transpose_b=True)
        return tf.sigmoid(field) if self.visible == "binary" else field

    def free_energy(self, v):
        """F(v) = -log sum_h exp(-E(v, h)), [N]."""
        hidden = tf.reduce_sum(tf.nn.softplus(self.c + tf.matmul(v, self.w)), 1)
        if self.visible == "binary":
            return -tf.linalg.matvec(v, self.b) - hidden
        return 0.5 * tf.reduce_sum(tf.square(v - self.b), 1) - hidden

    def sample_hidden(self, v, keys, step):
        return bernoulli(self.hidden_probs(v), row_uniform(keys, 4 * step, self.num_hidden))

    def sample_visible(self, h, keys, step):
        mean = self.visible_mean(h)
        if self.visible == "binary":
            return bernoulli(mean, row_uniform(keys, 4 * step + 1, self.num_visible))
        return mean + normal_from(keys, 2 * step + 1, self.num_visible)

    def gibbs(self, v, keys, steps, first_step=0):
        """`steps` steps v -> h -> v of block Gibbs sampling, per-row keyed."""
        def step(t, v):
            h = self.sample_hidden(v, keys, first_step + t)
            return self.sample_visible(h, keys, first_step + t)
        return run_chain(step, v, steps)


class StoredLogZ:
    """Mixin: log Z of one RBM (`_partitioned_rbm()`), estimated on demand
    and stored as non-trainable weights, so it is saved, restored and
    exported with the weights it belongs to."""

    def _init_log_z(self, ais_runs, ais_betas):
        self.ais_runs = checks.int_at_least("ais_runs", ais_runs, 2)
        self.ais_betas = checks.positive_int("ais_betas", ais_betas)
        # log Z, its standard error, and how it was found (-1: not yet,
        # 0: enumeration, else the number of AIS runs).
        self.log_z = self.add_weight((), "zeros", trainable=False, name="log_z")
        self.log_z_stderr = self.add_weight((), "zeros", trainable=False, name="log_z_stderr")
        self.log_z_runs = self.add_weight((), keras.initializers.Constant(-1.0),
                                          trainable=False, name="log_z_runs")

    def _partitioned_rbm(self):
        raise NotImplementedError

    def _require_log_z(self):
        # Traced (e.g. inside `training.likelihood`), the graph gives NaN instead.
        if tf.executing_eagerly() and self.log_z_estimate() is None:
            raise InputError("log Z has not been estimated: call "
                             "model.estimate_log_z() first (the trainer does)")

    def estimate_log_z(self, seed=0, num_runs=None, num_betas=None, exact=None):
        """Finds log Z and stores it for `log_prob` (saved with the weights).

        Args:
          seed: int seed of the AIS runs.
          num_runs, num_betas: AIS settings (default `ais_runs`, `ais_betas`).
          exact: True enumerates, False runs AIS; default: enumerate when
            `num_hidden` <= 20.

        Returns:
          `log_z_estimate()`.
        """
        rbm = self._partitioned_rbm()
        exact = rbm.num_hidden <= partition.MAX_ENUMERATED_HIDDEN if exact is None else exact
        if exact:
            log_z, stderr, runs = partition.exact_log_z(*rbm.params, rbm.visible), 0.0, 0
        else:
            runs = num_runs or self.ais_runs
            log_z, stderr, _ = partition.ais_log_z(
                *rbm.params, rbm.visible, runs, num_betas or self.ais_betas, (int(seed), 0))
        for variable, value in ((self.log_z, log_z), (self.log_z_stderr, stderr),
                                (self.log_z_runs, runs)):
            variable.assign(tf.cast(value, tf.float32))
        return self.log_z_estimate()

    def log_z_estimate(self):
        """{"log_z", "stderr", "method"} of the stored log Z (None if none)."""
        runs = int(self.log_z_runs.numpy())
        if runs < 0:
            return None
        method = "exact enumeration" if runs == 0 else f"AIS ({runs} runs, " \
                                                        f"{self.ais_betas} betas)"
        return {"log_z": float(self.log_z.numpy()), "stderr": float(self.log_z_stderr.numpy()),
                "method": method}
