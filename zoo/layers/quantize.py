"""Vector quantization with a straight-through gradient ([1], sec. 3.1-3.2).

`VectorQuantizer` maps each D-vector of an encoder grid to its nearest
codebook entry. The codebook is learned either by its own loss
||sg[z_e] - e||^2 ([1], eq. 3, second term) or, with `ema_decay`, by
exponential moving averages of the assigned vectors ([1], appendix A.1):

    N_k <- g N_k + (1 - g) n_k
    m_k <- g m_k + (1 - g) sum_{i: k(i) = k} z_e,i
    e_k  = m_k / N~_k,   N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j

(Laplace smoothing keeps a rarely used code finite). Codes whose usage
average falls below `restart_threshold` are restarted at encoder outputs of
the current batch ([2], sec. 3.1), the cure for codebook collapse.

Under `tf.distribute` the counts and sums are those of the global batch,
and restarts draw from the global batch with one seed, so every replica
writes the same values (the state's aggregation is "mean") and a step on N
replicas equals the step on one device.

References:
  [1] van den Oord, Vinyals, Kavukcuoglu. Neural Discrete Representation
      Learning. NeurIPS 2017.
  [2] Dhariwal et al. Jukebox: A Generative Model for Music. 2020.
"""

import keras
import tensorflow as tf


def _global_sums(values):
    """Sums `values` (a list of tensors) over replicas; unchanged on one device."""
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        return context.all_reduce("sum", values)
    return values


def _global_rows(values):
    """The rows of every replica's `values`, in replica order (the global
    batch); unchanged on one device."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_gather(values, axis=0)


def perplexity(counts):
    """exp(entropy) of the code distribution given by `counts` [K]: the
    number of codes in effective use (1 .. K)."""
    p = counts / tf.maximum(tf.reduce_sum(counts), 1e-12)
    return tf.exp(-tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p), p)))


def ema_codebook(counts, sums, batch_counts, batch_sums, decay, epsilon):
    """One EMA step of appendix A.1 of [1]: (counts, sums, codebook).

    Args:
      counts: [K] running N_k; sums: [K, D] running m_k.
      batch_counts: [K] assignments n_k of this step; batch_sums: [K, D].
      decay: g in (0, 1); epsilon: Laplace smoothing.
    """
    counts = decay * counts + (1.0 - decay) * batch_counts
    sums = decay * sums + (1.0 - decay) * batch_sums
    total = tf.reduce_sum(counts)
    k = tf.cast(tf.shape(counts)[0], counts.dtype)
    smoothed = (counts + epsilon) / (total + k * epsilon) * total
    return counts, sums, sums / smoothed[:, None]


class VectorQuantizer(keras.layers.Layer):
    """Nearest-codebook quantization of [N, h, w, D] grids.

    Args:
      num_codes: K.
      code_dim: D.
      ema_decay: None (the codebook is a trainable weight learned by the
        codebook loss) or g in (0, 1) (the codebook is updated by EMA and
        receives no gradient).
      restart_threshold: a code whose running usage (assignments per step,
        averaged with `usage_decay` from a start of 1) falls below this is
        restarted at a random encoder output of the batch; 0 turns restarts
        off. The default 1 ([2]) restarts every code the first step leaves
        unused, which starts the codebook from encoder outputs.
      usage_decay: decay of the usage average (`ema_decay` when that is set).
      epsilon: Laplace smoothing of the EMA counts.
    """

    def __init__(self, num_codes, code_dim, ema_decay=None, restart_threshold=1.0,
                 usage_decay=0.99, epsilon=1e-5, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.num_codes, self.code_dim = num_codes, code_dim
        self.ema_decay, self.restart_threshold = ema_decay, restart_threshold
        self.usage_decay = ema_decay if ema_decay is not None else usage_decay
        self.epsilon = epsilon

    def build(self, input_shape=None):
        k, d = self.num_codes, self.code_dim
        self.codebook = self.add_weight(
            name="codebook", shape=(k, d), trainable=self.ema_decay is None,
            initializer=keras.initializers.RandomUniform(-(3.0 / d) ** 0.5, (3.0 / d) ** 0.5),
            aggregation="mean")
        # Starting the counts at 1 and the sums at the codebook makes the
        # first EMA steps move codes by the data, not by the initialization.
        self.counts = self.add_weight(name="counts", shape=(k,), initializer="ones",
                                      trainable=False, aggregation="mean")
        if self.ema_decay is not None:
            self.sums = self.add_weight(name="sums", shape=(k, d), initializer="zeros",
                                        trainable=False, aggregation="mean")
            self.sums.assign(self.codebook)

    def nearest(self, z_e):
        """Indices [N, h, w] of the nearest codes to z_e [N, h, w, D]."""
        z_e = tf.cast(z_e, tf.float32)
        distances = (tf.reduce_sum(tf.square(z_e), -1, keepdims=True)
                     - 2.0 * tf.einsum("nhwd,kd->nhwk", z_e, self.codebook)
                     + tf.reduce_sum(tf.square(self.codebook), -1))
        return tf.argmin(distances, axis=-1, output_type=tf.int32)

    def lookup(self, indices):
        """Code vectors [N, h, w, D] of indices [N, h, w]."""
        return tf.gather(self.codebook, indices)

    def call(self, z_e, training=False, seed=None):
        """Quantizes z_e [N, h, w, D].

        Args:
          z_e: encoder outputs.
          training: update the EMA codebook and the usage, restart dead codes.
          seed: int32 [2] stateless seed for restarts (training only).

        Returns:
          dict: "z_q" (straight-through: forward e_k, backward the identity
          to z_e), "indices" [N, h, w], "codebook" and "commitment" losses
          [N] (means over the grid of ||sg[z_e] - e||^2 and
          ||z_e - sg[e]||^2), "perplexity" (scalar, of this batch).
        """
        z_e = tf.cast(z_e, tf.float32)
        indices = self.nearest(z_e)
        # Read before any update: this step's losses see the codebook as it was
        # (stateful ops run in program order, in graphs too).
        e = tf.gather(self.codebook, indices)
        one_hot = tf.one_hot(indices, self.num_codes)
        batch_counts = tf.reduce_sum(one_hot, [0, 1, 2])
        if training:
            batch_sums = tf.einsum("nhwk,nhwd->kd", one_hot, tf.stop_gradient(z_e))
            batch_counts, batch_sums = _global_sums([batch_counts, batch_sums])
            self._update(z_e, batch_counts, batch_sums, seed)
        z_q = z_e + tf.stop_gradient(e - z_e)
        return {"z_q": z_q, "indices": indices,
                "codebook": tf.reduce_mean(tf.square(tf.stop_gradient(z_e) - e), [1, 2, 3]),
                "commitment": tf.reduce_mean(tf.square(z_e - tf.stop_gradient(e)), [1, 2, 3]),
                "perplexity": perplexity(batch_counts)}

    def _update(self, z_e, batch_counts, batch_sums, seed):
        counts = self.usage_decay * self.counts + (1.0 - self.usage_decay) * batch_counts
        sums, codebook = None, None
        if self.ema_decay is not None:
            counts, sums, codebook = ema_codebook(self.counts, self.sums, batch_counts,
                                                  batch_sums, self.ema_decay, self.epsilon)
        if self.restart_threshold > 0 and seed is not None:
            # Draws from the global batch with the same seed on every replica:
            # the same restarts on any number of replicas.
            flat = _global_rows(tf.reshape(tf.stop_gradient(z_e), [-1, self.code_dim]))
            picks = tf.random.stateless_uniform([self.num_codes], seed, 0,
                                                tf.shape(flat)[0], tf.int32)
            fresh = tf.gather(flat, picks)
            dead = counts < self.restart_threshold
            codebook = tf.where(dead[:, None], fresh,
                                self.codebook if codebook is None else codebook)
            counts = tf.where(dead, tf.ones_like(counts), counts)
            if sums is not None:
                sums = tf.where(dead[:, None], fresh, sums)
        self.counts.assign(counts)
        if sums is not None:
            self.sums.assign(sums)
        if codebook is not None:
            self.codebook.assign(codebook)

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes,
                "code_dim": self.code_dim, "ema_decay": self.ema_decay,
                "restart_threshold": self.restart_threshold,
                "usage_decay": self.usage_decay, "epsilon": self.epsilon}
