"""Dropout whose masks differ across `tf.distribute` replicas."""

import keras
import tensorflow as tf

from zoo import checks
from zoo.layers.sampling import tfp_seed


@keras.saving.register_keras_serializable(package="zoo")
class ReplicaDropout(keras.layers.Layer):
    """Inverted dropout (Srivastava et al. 2014) with stateless masks.

    `keras.layers.Dropout` keeps one seed stream per layer, mirrored across
    replicas, so every replica would drop the same units of its own images.
    Here each training call takes the next seed of the layer's generator and
    folds in the replica id: replicas draw different masks, and a run is
    reproducible for a given seed and replica count.

    Args:
      rate: fraction of units dropped, in [0, 1).
      seed: seeds the layer's mask stream.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = checks.number("rate", rate, 0.0, 1.0, high_open=True)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        seed = tfp_seed(self.seed_generator)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            seed = tf.random.experimental.stateless_fold_in(
                seed, context.replica_id_in_sync_group)
        keep = tf.random.stateless_uniform(tf.shape(inputs), seed) >= self.rate
        return tf.where(keep, inputs / (1.0 - self.rate), tf.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
