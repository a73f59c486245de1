"""The tf.data tail shared by every source: index, shuffle, repeat, preprocess, batch.

References:
  - R. Salakhutdinov and I. Murray. On the quantitative analysis of deep belief
    networks. ICML 2008. (dynamic binarization)
  - H. Larochelle and I. Murray. The neural autoregressive distribution
    estimator. AISTATS 2011. (fixed binarization of MNIST)
"""

from __future__ import annotations

import tensorflow as tf

from zoo.distributions import quantize


def _bernoulli(images, seed):
    """{0, 1} float32 pixels, each on with probability uint8 value / 255."""
    probs = tf.cast(images, tf.float32) / 255.0
    noise = tf.random.stateless_uniform(tf.shape(probs), seed=seed)
    return tf.cast(noise < probs, tf.float32)


def preprocess(images, mode, num_levels):
    """uint8 images -> the model-facing values of a deterministic `mode`."""
    if mode == "unit":
        return tf.cast(images, tf.float32) / 255.0
    if mode == "symmetric":
        return tf.cast(images, tf.float32) / 127.5 - 1.0
    if mode == "levels":
        # The models' own rule, so a dataset's levels are exactly the values
        # their likelihoods score for the same images in mode "unit".
        return tf.cast(quantize(tf.cast(images, tf.float32) / 255.0, num_levels), tf.int32)
    raise AssertionError(f"mode {mode!r} is random, not a fixed preprocessing")


def pipeline(ds, *, mode, num_levels, shuffle, buffer, seed, batch_size, drop_remainder,
             repeat, with_labels):
    """Index, shuffle, repeat, binarize/scale, batch and prefetch `ds`.

    ``ds`` yields tuples ``(image uint8 [H,W,C],)`` or ``(image, label)``;
    the result yields image batches, or ``(images, int64 labels)``.
    """
    seed_t = tf.constant(seed, tf.int64)
    # The index is taken before shuffling, so it names the example, not its
    # position in an epoch: the key for static binarization.
    ds = ds.enumerate()
    if shuffle:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    if mode == "binary_static":

        def binarize_static(index, element):
            image = _bernoulli(element[0], tf.stack([seed_t, index]))
            return index, (image,) + tuple(element[1:])

        ds = ds.map(binarize_static, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def convert(element, key):
        images = element[0]
        if mode == "binary_static":
            out = images  # already binarized per example above
        elif mode == "binary_dynamic":
            out = _bernoulli(images, tf.stack([seed_t, key]))
        else:
            out = preprocess(images, mode, num_levels)
        if with_labels:
            return out, tf.cast(element[1], tf.int64)
        return out

    if mode == "binary_dynamic":
        # One fresh stream of per-batch keys per iteration: every epoch (a new
        # iteration, or the next pass under repeat) draws new keys, yet a new
        # dataset built with the same seed replays the same key sequence.
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, keys)
        ds = ds.map(lambda batch, key: convert(batch[1], key),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda index, element: convert(element, None),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
