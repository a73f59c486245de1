"""Deep belief net: RBMs stacked greedily, sampled top-down."""

import math

import tensorflow as tf

from zoo import checks
from zoo.base import GenerativeModel
from zoo.energy.base import ChainSampling
from zoo.energy.chains import bernoulli, row_keys, row_uniform
from zoo.energy.units import RBMParameters, StoredLogZ, keys_for_rows
from zoo.layers.sampling import per_row_seeds
from zoo.registry import register

_START = -1


@register("dbn")
class DBN(StoredLogZ, ChainSampling, GenerativeModel):
    """Deep belief net of binary units trained greedily, layer by layer ([1]).

    RBM l models x_l (x_0 = the image) and x_{l+1}; its data are the hidden
    probabilities of the trained layers below, with gradients stopped. `fit`
    trains layer 0 for `layer_steps` optimizer steps, then layer 1, and so
    on; the top layer trains until the run ends. Each layer's update is the
    CD-k update of `rbm` (a one-hot mask on the per-layer losses picks the
    layer, so the step stays the base's one-optimizer step).

    The generative model is the top RBM over (x_{L-1}, x_L) and directed
    layers p(x_l | x_{l+1}) below it: `sample` runs Gibbs in the top RBM from
    a random x_{L-1} and passes down once, returning the visible means.

    The bound on log p(x) ([1] sec. 4; [2] eq. 17, with one posterior draw
    per image from the seed row):
      E_q[sum_{l<L-1} log p(x_l | x_{l+1}) + log p*_top(x_{L-1})] - log Z_top
      + sum_l H(q(x_{l+1} | x_l)),
    q being the layers' hidden conditionals; log Z_top comes from
    `estimate_log_z` (enumerated when the top RBM has <= 20 hidden units,
    else AIS). `elbo_from_seeds` and the served `elbo` give it in nats.

    Args:
      image_shape: (H, W, C).
      hidden_layers: hidden units of each RBM, bottom up.
      layer_steps: optimizer steps each layer but the top trains for.
      cd_steps: k of CD-k.
      weight_decay: L2 coefficient on each W.
      sampling_steps: Gibbs steps in the top RBM for `sample`.
      chain_signatures: served `sample_gibbs_S` signatures.
      ais_runs, ais_betas: AIS settings for the top RBM's log Z.
      seed: seeds training's Gibbs draws.

    References:
      [1] Hinton, Osindero, Teh. A Fast Learning Algorithm for Deep Belief
          Nets. Neural Computation 18, 2006.
      [2] Salakhutdinov, Murray. On the Quantitative Analysis of Deep Belief
          Networks. ICML 2008.
    """

    optimizer_defaults = {"optimizer": ("SGD", {"learning_rate": 0.05, "momentum": 0.9})}

    def __init__(self, image_shape=(8, 8, 1), hidden_layers=(64, 64), layer_steps=300,
                 cd_steps=1, weight_decay=2e-4, sampling_steps=1000,
                 chain_signatures=(10, 100), ais_runs=100, ais_betas=1000, seed=None,
                 **kwargs):
        super().__init__(image_shape=image_shape, seed=seed, **kwargs)
        self.hidden_layers = tuple(checks.positive_ints("hidden_layers", hidden_layers))
        self.layer_steps = checks.positive_int("layer_steps", layer_steps)
        self.cd_steps = checks.positive_int("cd_steps", cd_steps)
        self.weight_decay = checks.non_negative_float("weight_decay", weight_decay)
        self._init_chains(sampling_steps, chain_signatures)
        sizes = (self.num_dims,) + self.hidden_layers
        self.layers_ = [RBMParameters(self, sizes[i], sizes[i + 1], "binary", f"rbm{i}_")
                        for i in range(len(self.hidden_layers))]
        self._init_log_z(ais_runs, ais_betas)
        self.built = True

    def preprocessing(self, training=True):
        return "binary_dynamic" if training else "binary_static"

    def _partitioned_rbm(self):
        return self.layers_[-1]

    # ------------------------------------------------------------- training
    metric_names = ("loss", "reconstruction_error", "active_layer")

    def active_layer(self):
        """Index of the layer the next optimizer step trains."""
        step = tf.cast(self.optimizer.iterations, tf.int32) if self.optimizer else 0
        return tf.minimum(step // self.layer_steps, len(self.layers_) - 1)

    def loss_terms(self, images, labels, training):
        x = tf.reshape(tf.cast(images, tf.float32), [-1, self.num_dims])
        rows = tf.shape(x)[0]
        if training:
            keys = self.training_noise(keys_for_rows, rows)
        else:
            keys = keys_for_rows(rows, [self.seed or 0, 1])
        active = self.active_layer()
        loss, error = 0.0, 0.0
        for i, rbm in enumerate(self.layers_):
            on = tf.cast(tf.equal(active, i), tf.float32)
            # Only the active layer's chain is run; the others' terms are masked.
            negatives = tf.stop_gradient(tf.cond(
                on > 0, lambda rbm=rbm, x=x, i=i: rbm.gibbs(x, keys, self.cd_steps,
                                                            first_step=i * 1000),
                lambda x=x: x))
            decay = 0.5 * self.weight_decay * tf.reduce_sum(tf.square(rbm.w))
            loss += on * (rbm.free_energy(x) - rbm.free_energy(negatives) + decay)
            mean = rbm.visible_mean(rbm.hidden_probs(x))
            error += on * tf.reduce_mean(tf.square(x - mean), 1)
            x = tf.stop_gradient(rbm.hidden_probs(x))
        return {"loss": loss, "reconstruction_error": error,
                "active_layer": tf.cast(active, tf.float32)}

    # -------------------------------------------------------------- chains
    def _chain_start(self, keys):
        return bernoulli(0.5, row_uniform(keys, _START, self.layers_[-1].num_visible))

    def _chain_step(self, t, x, keys):
        top = self.layers_[-1]
        return top.sample_visible(top.sample_hidden(x, keys, t), keys, t)

    def _chain_images(self, x, keys):
        """Visible means and draws after one pass down from x_{L-1}."""
        top = self.layers_[-1]
        mean, draws = top.visible_mean(top.hidden_probs(x)), x
        for i in reversed(range(len(self.layers_) - 1)):
            mean = self.layers_[i].visible_mean(draws)
            draws = self.layers_[i].sample_visible(draws, keys, -2 - i)
        shape = (-1,) + self.image_shape
        return {"images": tf.reshape(mean, shape), "draws": tf.reshape(draws, shape)}

    # ----------------------------------------------------------- likelihood
    def elbo_from_seeds(self, images, seeds):
        """The variational bound on log p(x) in nats [N] (one posterior draw
        per image, from seed row i); needs `estimate_log_z` first."""
        self._require_log_z()
        return self._elbo(self.check_images(images), checks.seeds(seeds))

    def elbo(self, images, seed=0):
        """`elbo_from_seeds` with seed rows [seed, i]."""
        images = self.check_images(images)
        return self.elbo_from_seeds(images, per_row_seeds(int(images.shape[0]), seed))

    def _elbo(self, images, seeds):
        keys = row_keys(seeds, stream=3)
        x = tf.reshape(tf.cast(images, tf.float32), [-1, self.num_dims])
        bound = 0.0
        for i, rbm in enumerate(self.layers_[:-1]):
            q = rbm.hidden_probs(x)
            h = bernoulli(q, row_uniform(keys, i, rbm.num_hidden))
            bound += _bernoulli_log_prob(x, rbm.visible_mean(h)) + _entropy(q)
            x = h
        top = self.layers_[-1]
        bound += -top.free_energy(x) - self.log_z
        return tf.where(self.log_z_runs < 0, tf.constant(math.nan), bound)

    def serving_endpoints(self):
        """Adds `elbo` (images, seed -> bound in nats [N]; NaN before log Z)."""
        endpoints = super().serving_endpoints()
        endpoints["elbo"] = (
            lambda images, seed: {"elbo": self._elbo(self.check_images(images), seed)},
            [self.image_spec(), self.seed_spec()])
        return endpoints


def _bernoulli_log_prob(x, probs):
    probs = tf.clip_by_value(probs, 1e-7, 1 - 1e-7)
    return tf.reduce_sum(x * tf.math.log(probs) + (1 - x) * tf.math.log1p(-probs), 1)


def _entropy(q):
    return -_bernoulli_log_prob(q, q)
