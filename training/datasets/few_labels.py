"""Partially labelled training streams: the few-label protocol.

`label_subset` keeps a class-balanced, seeded subset of N labels of the
train split (N // K per class, the remainder to the first N mod K classes
of a seeded class order). `load_partially_labelled` turns the split into one
stream in which the other examples carry label -1 (unlabelled).

Batch composition: every batch holds `labelled_per_batch` labelled rows
(default half the batch) spread evenly among the unlabelled rest (so under
`tf.distribute` each replica's slice holds its share of both). The labelled subset
is reshuffled and repeated as often as needed, so with 100 labels and 32
labelled rows per batch each label is seen about every third batch; an epoch
is one pass over the unlabelled examples. The two halves are preprocessed
like any `load` stream (dynamic binarization included), from two seeds.
"""

import numpy as np
import tensorflow as tf

from training.datasets.api import load_arrays
from training.datasets.pipeline import pipeline
from training.datasets.spec import DatasetError, check_int, check_seed


def label_subset(labels, num_labels, seed=0):
    """Indices [num_labels] of a class-balanced subset of `labels`.

    Args:
      labels: int [N] class labels of the train split.
      num_labels: how many to keep, at least one per class.
      seed: chooses the examples (and which classes get the remainder).

    Raises:
      DatasetError: more labels than examples, fewer than one per class, or a
        class with fewer examples than its share.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    k = len(classes)
    num_labels = check_int("labels", num_labels, low=1)
    if num_labels > len(labels):
        raise DatasetError(f"--labels {num_labels} is more than the {len(labels)} "
                           "training examples")
    if num_labels < k:
        raise DatasetError(f"--labels {num_labels} is fewer than one per class "
                           f"({k} classes); use at least {k}")
    rng = np.random.default_rng(seed)
    share = np.full(k, num_labels // k)
    share[rng.permutation(k)[:num_labels % k]] += 1
    chosen = []
    for c, n in zip(classes, share):
        members = np.flatnonzero(labels == c)
        if len(members) < n:
            raise DatasetError(f"class {c} has {len(members)} training examples, fewer "
                               f"than its {n} of --labels {num_labels}")
        chosen.append(rng.choice(members, n, replace=False))
    return np.sort(np.concatenate(chosen))


def _spread(labelled, unlabelled):
    """One batch with the labelled rows spread evenly among the unlabelled
    ones, so each replica's slice of it under tf.distribute holds its share."""
    def keys(rows):
        n = tf.shape(rows)[0]
        return (tf.cast(tf.range(n), tf.float32) + 0.5) / tf.cast(n, tf.float32)

    order = tf.argsort(tf.concat([keys(labelled[1]), keys(unlabelled[1])], 0), stable=True)
    return (tf.gather(tf.concat([labelled[0], unlabelled[0]], 0), order),
            tf.gather(tf.concat([labelled[1], unlabelled[1]], 0), order))


def load_partially_labelled(spec, num_labels, *, batch_size=64, mode="unit",
                            num_levels=256, seed=0, split_seed=0, labelled_per_batch=None,
                            drop_remainder=False, image_size=None, data_dir=None):
    """A training stream of (images, labels) with label -1 for unlabelled rows.

    Args:
      spec: dataset spec (it must have labels).
      num_labels: N, the labels kept (`label_subset`, seeded by `split_seed`,
        so runs with other seeds keep the same labels).
      batch_size: rows per batch.
      mode, num_levels, image_size, data_dir: as in `load`.
      seed: shuffle order and dynamic binarization.
      split_seed: the train/test split of sources without one, and the subset.
      labelled_per_batch: labelled rows per batch (default batch_size // 2,
        at least 1, below batch_size).
      drop_remainder: drop the last, smaller batch.

    Returns:
      (dataset, {"labelled": N, "unlabelled": M, "labelled_per_batch": L}).
    """
    batch_size = check_int("batch_size", batch_size, low=2)
    seed, split_seed = check_seed("seed", seed), check_seed("split_seed", split_seed)
    per_batch = max(1, batch_size // 2) if labelled_per_batch is None else check_int(
        "labelled_per_batch", labelled_per_batch, low=1, high=batch_size - 1)
    images, labels = load_arrays(spec, "train", image_size=image_size, seed=split_seed,
                                 data_dir=data_dir)
    if labels is None:
        raise DatasetError(f"--labels needs a labelled dataset; {spec!r} has no labels")
    chosen = label_subset(labels, num_labels, split_seed)
    rest = np.setdiff1d(np.arange(len(images)), chosen)
    if len(rest) == 0:
        raise DatasetError(f"--labels {num_labels} leaves no unlabelled example; "
                           "train without --labels for a fully labelled run")
    options = dict(mode=mode, num_levels=num_levels, shuffle=True, with_labels=True)
    labelled = pipeline(
        tf.data.Dataset.from_tensor_slices((images[chosen], labels[chosen])),
        buffer=len(chosen), seed=seed, batch_size=per_batch, drop_remainder=True,
        repeat=True, **options)
    unlabelled = pipeline(
        tf.data.Dataset.from_tensor_slices((images[rest], np.full(len(rest), -1, np.int64))),
        buffer=len(rest), seed=seed + 1, batch_size=batch_size - per_batch,
        drop_remainder=drop_remainder, repeat=False, **options)
    ds = tf.data.Dataset.zip(labelled, unlabelled).map(_spread)
    return ds.prefetch(tf.data.AUTOTUNE), {
        "labelled": int(len(chosen)), "unlabelled": int(len(rest)),
        "labelled_per_batch": per_batch}
