"""Restricted Boltzmann machine trained by contrastive divergence."""

import math

import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.energy.base import ChainSampling
from zoo.energy.chains import bernoulli, row_uniform
from zoo.energy.units import RBMParameters, StoredLogZ, keys_for_rows, normal_from
from zoo.registry import register

VISIBLE = ("binary", "gaussian")
# The first chain step of every kind of chain; start and steps never share draws.
_START = -1


@register("rbm")
class RBM(StoredLogZ, ChainSampling, GenerativeModel):
    """Restricted Boltzmann machine with CD-k or persistent CD training.

    Trained with `fit` through the base's one-optimizer step: the loss
    F(v_data) - F(stop_gradient(v_model)) has the CD update as its gradient
    ([1]; [3] for PCD), its minimizer lowers the free energy of the data
    and raises that of the model's samples. v_model comes from k Gibbs steps
    started at the data (CD-k) or from persistent chains that carry over
    from step to step (PCD); those chains are model state (saved, restored
    on resume, `reset_chains()` restarts them). Weight decay and momentum
    follow [2] sec. 9-10 (L2 on W in the loss; SGD with momentum 0.9).

    Reports `reconstruction_error` (squared error of v against the visible
    means after one mean-field up-down pass) and `pseudo_likelihood` (binary
    units: D log sigmoid(F(v~) - F(v)) with v~ = v with one random unit
    flipped, an unbiased estimate of the log pseudo-likelihood).

    `log_prob` is log p*(v) - log Z with log Z from `estimate_log_z`:
    exact enumeration over the hidden states when `num_hidden` <= 20, else
    annealed importance sampling ([4]); `log_z_estimate()` says which and
    its standard error. The trainer estimates it before each evaluation.

    Args:
      image_shape: (H, W, C).
      num_hidden: number of binary hidden units.
      visible: "binary" (data binarized like the VAEs') or "gaussian" (grey
        levels, unit-variance units after dividing by `visible_std`).
      visible_std: the Gaussian units' fixed standard deviation on the [0, 1]
        pixel scale.
      cd_steps: k of CD-k (and of each PCD update).
      persistent: True for persistent CD.
      persistent_chains: number of persistent chains.
      weight_decay: L2 coefficient on W.
      sampling_steps: Gibbs steps of `sample` and `serving_default`.
      chain_signatures: more served samplers, `sample_gibbs_S`, one per S.
      ais_runs, ais_betas: AIS runs and intermediate distributions.
      seed: seeds training's Gibbs draws.

    References:
      [1] Hinton. Training Products of Experts by Minimizing Contrastive
          Divergence. Neural Computation 14, 2002.
      [2] Hinton. A Practical Guide to Training Restricted Boltzmann
          Machines. UTML TR 2010-003.
      [3] Tieleman. Training Restricted Boltzmann Machines using
          Approximations to the Likelihood Gradient. ICML 2008.
      [4] Salakhutdinov, Murray. On the Quantitative Analysis of Deep
          Belief Networks. ICML 2008.
    """

    optimizer_defaults = {"optimizer": ("SGD", {"learning_rate": 0.05, "momentum": 0.9})}

    def __init__(self, image_shape=(8, 8, 1), num_hidden=64, visible="binary",
                 visible_std=0.25, cd_steps=1, persistent=False, persistent_chains=100,
                 weight_decay=2e-4, sampling_steps=1000, chain_signatures=(10, 100),
                 ais_runs=100, ais_betas=1000, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.num_hidden = checks.positive_int("num_hidden", num_hidden)
        self.visible = checks.choice("visible", visible, VISIBLE)
        self.visible_std = checks.positive_float("visible_std", visible_std)
        self.cd_steps = checks.positive_int("cd_steps", cd_steps)
        self.persistent = bool(persistent)
        self.persistent_chains = checks.positive_int("persistent_chains", persistent_chains)
        self.weight_decay = checks.non_negative_float("weight_decay", weight_decay)
        self._init_chains(sampling_steps, chain_signatures)
        self.rbm = RBMParameters(self, self.num_dims, self.num_hidden, self.visible)
        # Persistent chains: the first replica's are kept (each replica draws
        # its own negatives from them).
        self.chains = self.add_weight((self.persistent_chains, self.num_dims), "zeros",
                                      trainable=False, name="persistent_chains",
                                      aggregation="only_first_replica")
        self.chains_started = self.add_weight((), "zeros", trainable=False,
                                              name="chains_started",
                                              aggregation="only_first_replica")
        self._init_log_z(ais_runs, ais_betas)
        if self.visible == "gaussian":
            # A density of the pixel values: `training.likelihood` scores it
            # on dequantized data, like the flows.
            self.log_density = self.log_prob
        self.built = True

    def preprocessing(self, training=True):
        if self.visible == "binary":
            return "binary_dynamic" if training else "binary_static"
        return "unit"

    # ------------------------------------------------------------- helpers
    def _flat(self, images):
        v = tf.reshape(tf.cast(images, tf.float32), [-1, self.num_dims])
        return v if self.visible == "binary" else v / self.visible_std

    def _to_images(self, v):
        if self.visible == "gaussian":
            v = v * self.visible_std
        return tf.reshape(tf.clip_by_value(v, 0.0, 1.0), (-1,) + self.image_shape)

    def free_energy(self, images):
        """F(v) [N] of images [N, H, W, C] (in the visible units' scale)."""
        return self.rbm.free_energy(self._flat(self.check_images(images)))

    # -------------------------------------------------------------- chains
    def _chain_start(self, keys):
        if self.visible == "binary":
            return bernoulli(0.5, row_uniform(keys, _START, self.num_dims))
        return self.rbm.b + normal_from(keys, _START, self.num_dims)

    def _chain_step(self, t, v, keys):
        return self.rbm.sample_visible(self.rbm.sample_hidden(v, keys, t), keys, t)

    def _chain_images(self, v, keys):
        mean = self.rbm.visible_mean(self.rbm.hidden_probs(v))
        return {"images": self._to_images(mean), "draws": self._to_images(v)}

    def reset_chains(self):
        """Restarts the persistent chains (from random states at the next step)."""
        self.chains_started.assign(0.0)

    # ------------------------------------------------------------- training
    @property
    def metric_names(self):
        names = ("loss", "reconstruction_error")
        return names + ("pseudo_likelihood",) if self.visible == "binary" else names

    def _negatives(self, v, training):
        if not training:
            # Evaluation: CD-k from the data with one fixed key per row.
            keys = keys_for_rows(tf.shape(v)[0], [self.seed or 0, 1])
            return self.rbm.gibbs(v, keys, self.cd_steps)
        if not self.persistent:
            keys = self.training_noise(keys_for_rows, tf.shape(v)[0])
            return self.rbm.gibbs(v, keys, self.cd_steps)
        keys = self.training_noise(keys_for_rows, self.persistent_chains)
        start = tf.cond(self.chains_started > 0, lambda: tf.convert_to_tensor(self.chains),
                        lambda: self._chain_start(keys))
        chains = self.rbm.gibbs(start, keys, self.cd_steps, first_step=1)
        self.chains.assign(chains)
        self.chains_started.assign(1.0)
        return chains

    def loss_terms(self, images, labels, training):
        v = self._flat(images)
        negatives = tf.stop_gradient(self._negatives(v, training))
        model_term = self.rbm.free_energy(negatives)
        if self.persistent and training:
            model_term = tf.reduce_mean(model_term)
        decay = 0.5 * self.weight_decay * tf.reduce_sum(tf.square(self.rbm.w))
        terms = {"loss": self.rbm.free_energy(v) - model_term + decay}
        mean = self.rbm.visible_mean(self.rbm.hidden_probs(v))
        terms["reconstruction_error"] = tf.reduce_mean(tf.square(v - mean), 1)
        if self.visible == "binary":
            terms["pseudo_likelihood"] = tf.stop_gradient(self._pseudo_likelihood(v))
        return terms

    def _pseudo_likelihood(self, v):
        keys = keys_for_rows(tf.shape(v)[0], [self.seed or 0, 2])
        unit = tf.minimum(tf.cast(row_uniform(keys, 0, 1)[:, 0] * self.num_dims, tf.int32),
                          self.num_dims - 1)
        flip = tf.one_hot(unit, self.num_dims)
        flipped = v + flip - 2.0 * v * flip
        gap = self.rbm.free_energy(flipped) - self.rbm.free_energy(v)
        return self.num_dims * tf.math.log_sigmoid(gap)

    def _partitioned_rbm(self):
        return self.rbm

    def _log_prob(self, images, **kwargs):
        self._require_log_z()
        return self._log_prob_graph(images)

    def _log_prob_graph(self, images):
        v = self._flat(images)
        log_p = -self.rbm.free_energy(v) - self.log_z
        if self.visible == "gaussian":
            # Density of the pixel values: the 1/σ^D of the rescaling.
            log_p -= self.num_dims * math.log(self.visible_std)
        return tf.where(self.log_z_runs < 0, tf.constant(math.nan), log_p)

    # --------------------------------------------------------------- export
    def serving_endpoints(self):
        """Adds `free_energy` (images -> [N]) and `log_prob_estimate` (images
        -> log p in nats with the stored log Z, NaN before one is stored,
        and its standard error)."""
        endpoints = super().serving_endpoints()

        def free_energy(images):
            return {"free_energy": self.rbm.free_energy(self._flat(self.check_images(images)))}

        def log_prob(images):
            log_p = self._log_prob_graph(self.check_images(images))
            return {"log_prob": log_p,
                    "log_z_stderr": tf.fill(tf.shape(log_p), self.log_z_stderr)}

        endpoints["free_energy"] = (free_energy, [self.image_spec()])
        endpoints["log_prob_estimate"] = (log_prob, [self.image_spec()])
        return endpoints
