"""MADE: an autoencoder whose masks make its outputs autoregressive conditionals."""

import math

import keras
import numpy as np
import tensorflow as tf

from zoo import checks
from zoo.autoregressive.base import AutoregressiveModel, PerChannelHead
from zoo.layers.masked import MADENetwork
from zoo.registry import register


@register("made")
class MADE(PerChannelHead, AutoregressiveModel):
    """Masked Autoencoder for Distribution Estimation ([1]).

    A masked MLP maps the image (raster order, channel by channel) to every
    conditional p(x_d | x_<d) in one pass: a Bernoulli logit per dimension
    for 2 levels, else num_levels logits. With `num_masks` K > 1 the hidden
    degrees are drawn K times ([1] sec. 4.2, connectivity-agnostic
    training): each training step uses one of the K masks at random, and
    the model evaluated, sampled and exported is their equal-weight
    ensemble p(x) = (1/K) sum_k p_k(x) ([1] sec. 4.2), a mixture, so it is
    normalized and `sample` draws a component per image from its seed row.
    The input order stays the raster order (order-agnostic training is not
    implemented).

    Args:
      image_shape: (H, W, C), at least 2 dimensions.
      num_levels: 2 (binary) or grey levels per channel.
      hidden_units: units of each masked hidden layer.
      num_masks: K connectivities (1: one fixed mask).
      seed: seeds the K - 1 random connectivities and the mask drawn per step.

    References:
      [1] Germain, Gregor, Murray, Larochelle. MADE: Masked Autoencoder for
          Distribution Estimation. ICML 2015.
    """

    def __init__(self, image_shape=(28, 28, 1), num_levels=2, hidden_units=(500,),
                 num_masks=1, seed=None, **kwargs):
        super().__init__(image_shape=image_shape, num_levels=num_levels,
                         num_classes=None, seed=seed, **kwargs)
        self.hidden_units = checks.positive_ints("hidden_units", hidden_units)
        self.num_masks = checks.positive_int("num_masks", num_masks)
        d, p = self.num_dims, self.logits_per_channel
        self.made = MADENetwork(np.arange(1, d + 1), self.hidden_units,
                                np.repeat(np.arange(d), p), self.num_masks,
                                seed=seed or 0, name="made")
        self._finish_build()

    def _network(self, x, labels=None, training=False, mask_index=None):
        if mask_index is None:
            # A random connectivity per training step ([1] sec. 4.2).
            mask_index = (keras.random.randint((), 0, self.num_masks,
                                               seed=self.seed_generator)
                          if training and self.num_masks > 1 else 0)
        flat = tf.reshape(x, [-1, self.num_dims])
        out = self.made(flat, mask_index=mask_index)
        return self.dims_to_pixels(tf.reshape(out, [-1, self.num_dims,
                                                    self.logits_per_channel]))

    # ------------------------------------------------------ the ensemble
    def _component_outputs(self, x):
        """float32 [K, N, H, W, Q]: the network under each connectivity."""
        return tf.stack([tf.cast(self._network(x, mask_index=k), tf.float32)
                         for k in range(self.num_masks)])

    def _log_prob(self, images, labels=None):
        if self.num_masks == 1:
            return super()._log_prob(images, labels)
        self.labels_arg(labels, images.shape[0])
        levels = self.to_levels(images)
        x = self.levels_to_input(levels)
        n = tf.shape(images)[0]
        per_mask = [tf.reduce_sum(tf.reshape(self._log_prob_terms(out, levels, x), [n, -1]), 1)
                    for out in tf.unstack(self._component_outputs(x))]
        return tf.reduce_logsumexp(tf.stack(per_mask), 0) - math.log(self.num_masks)

    def loss_terms(self, images, labels, training):
        if training or self.num_masks == 1:
            return super().loss_terms(images, labels, training)
        # Evaluation scores the ensemble that is sampled and exported.
        nats = -self._log_prob(images) / self.num_dims
        return {"loss": nats, "bits_per_dim": nats / math.log(2.0)}

    def _complete(self, images, known_rows, seeds, labels=None):
        if self.num_masks == 1:
            return super()._complete(images, known_rows, seeds, labels)
        # The mixture component of each row, from a stream of its own seed
        # row that the pixels' noise does not use.
        u = tf.map_fn(lambda s: tf.random.stateless_uniform(
            [], seed=tf.random.experimental.stateless_fold_in(s, 1)),
            seeds, fn_output_signature=tf.float32)
        components = tf.minimum(tf.cast(u * self.num_masks, tf.int32), self.num_masks - 1)
        out = self._complete_mixture(self.to_levels(images), known_rows,
                                     self._noise(seeds), components)
        return out / (self.num_levels - 1)

    @tf.function(reduce_retracing=True)
    def _complete_mixture(self, levels, known_rows, noise, components):
        select = tf.one_hot(components, self.num_masks)  # [N, K]

        def network(x):
            return tf.einsum("nk,knhwq->nhwq", select, self._component_outputs(x))

        return self._naive_loop(levels, known_rows, noise, network)
