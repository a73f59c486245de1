"""The public entry points: :func:`info`, :func:`load_arrays` and :func:`load`."""

from __future__ import annotations

import tensorflow as tf

from training.datasets.memory import load_memory, split_indices, split_sizes
from training.datasets.pipeline import pipeline
from training.datasets.spec import (
    DatasetError,
    DatasetInfo,
    check_int,
    check_mode,
    check_seed,
    check_source_args,
    check_split,
    parse_spec,
)
from training.datasets.tfds_source import open_tfds


def _open(spec, image_size, test_fraction, data_dir):
    """Checked (parsed spec, TfdsSource or None, image_size, test_fraction)."""
    image_size, test_fraction, data_dir = check_source_args(image_size, test_fraction, data_dir)
    parsed = parse_spec(spec)
    source = open_tfds(spec, parsed.arg, data_dir) if parsed.kind == "tfds" else None
    return parsed, source, image_size, test_fraction


def info(spec, *, image_size=None, data_dir=None, test_fraction=0.2):
    """Describe a dataset without building a pipeline.

    For digits/npz/dir the data is read (to learn its shape and labels); for
    tfds only the builder metadata is consulted, nothing is downloaded.

    Args:
        spec: dataset spec string (see the package docstring).
        image_size: optional (H, W) the images would be resized to.
        data_dir: folder with prepared tensorflow-datasets data (tfds only).
        test_fraction: fraction in (0, 1) held out as "test" by sources with no
            predefined split; only affects ``num_examples``.

    Returns:
        A :class:`DatasetInfo`.

    Raises:
        DatasetError: for an invalid spec or argument, or unreadable data.
    """
    parsed, source, image_size, test_fraction = _open(spec, image_size, test_fraction, data_dir)
    if source is not None:
        shape, num_classes = source.image_shape(image_size), source.num_classes
        num_examples = {s: source.num_examples(s) for s in ("train", "test")}
    else:
        images, _, num_classes = load_memory(parsed, image_size)
        shape = images.shape[1:]
        num_examples = dict(zip(("train", "test"), split_sizes(len(images), test_fraction)))
    return DatasetInfo(name=spec, image_shape=tuple(int(d) for d in shape),
                       num_classes=num_classes, num_examples=num_examples)


def load_arrays(spec, split="train", *, image_size=None, test_fraction=0.2, seed=0, data_dir=None):
    """Raw images and labels of one split as NumPy arrays, before preprocessing.

    Row ``i`` of the result is the example that :func:`load` (with the same
    arguments) keys as index ``i``, e.g. for static binarization.

    Args:
        spec: dataset spec string (see the package docstring).
        split: "train", "test" or "all".
        image_size: optional (H, W) to resize every image to.
        test_fraction: fraction in (0, 1) of examples in "test" for sources
            with no predefined split (digits, npz, dir); ignored for tfds.
        seed: non-negative int choosing the train/test permutation
            (``np.random.default_rng(seed)``); ignored for tfds.
        data_dir: folder with prepared tensorflow-datasets data (tfds only).

    Returns:
        ``(images, labels)``: images uint8 [N,H,W,C] with C in {1, 3}; labels
        int64 [N], or None when the dataset has no labels. tfds datasets are
        fully materialized, so use this only for datasets that fit in memory.

    Raises:
        DatasetError: for an invalid spec or argument, or unreadable data.
    """
    split = check_split(split)
    seed = check_seed("seed", seed)
    parsed, source, image_size, test_fraction = _open(spec, image_size, test_fraction, data_dir)
    if source is not None:
        return source.arrays(split, image_size)
    return _memory_split(parsed, split, image_size, test_fraction, seed)


def _memory_split(parsed, split, image_size, test_fraction, seed):
    images, labels, _ = load_memory(parsed, image_size)
    idx = split_indices(len(images), split, test_fraction, seed)
    return images[idx], (None if labels is None else labels[idx])


def load(
    spec,
    split="train",
    *,
    batch_size=64,
    mode="unit",
    num_levels=256,
    labels=False,
    shuffle=None,
    seed=0,
    split_seed=0,
    drop_remainder=False,
    image_size=None,
    test_fraction=0.2,
    repeat=False,
    data_dir=None,
    take=None,
):
    """A batched, preprocessed, prefetched ``tf.data.Dataset`` for a spec.

    Args:
        spec: dataset spec string (see the package docstring).
        split: "train", "test" or "all".
        batch_size: positive int, examples per batch.
        mode: one of :data:`MODES`; decides dtype and range of the images:
            unit/symmetric/binary_* give float32 [B,H,W,C], levels gives int32.
        num_levels: int in [2, 256], number of intensity levels for "levels".
        labels: also yield int64 labels [B]; the dataset must have labels.
        shuffle: shuffle examples (reshuffled every epoch); default True for
            "train" and False otherwise.
        seed: non-negative int; fixes the shuffle order, static binarization
            (with the example index) and the sequence of dynamic
            binarizations. Static binarization depends on ``seed`` alone; the
            shuffle order and the dynamic binarization keys are seeded
            tf.data ops, so like any such op they also depend on the global
            ``tf.random.set_seed`` value.
        split_seed: non-negative int choosing the train/test permutation of
            sources without a predefined split. Kept apart from ``seed`` so
            runs with different seeds are evaluated on the same test set.
        drop_remainder: drop a final batch smaller than ``batch_size``.
        image_size: optional (H, W) to resize every image to (bilinear).
        test_fraction: fraction in (0, 1) of examples in "test" for sources
            with no predefined split; ignored for tfds.
        repeat: repeat forever (each epoch reshuffled and, for
            binary_dynamic, rebinarized).
        data_dir: folder with prepared tensorflow-datasets data (tfds only).
        take: keep only the first ``take`` examples of the split (before
            shuffling and batching).

    Returns:
        A dataset whose elements are image batches, or ``(images, labels)``
        tuples when ``labels=True``.

    Raises:
        DatasetError: for an invalid spec or argument, unreadable data, or
            ``labels=True`` on a dataset without labels.
    """
    # Cheap argument checks first, so mistakes fail before any data is read.
    split, mode = check_split(split), check_mode(mode)
    batch_size = check_int("batch_size", batch_size, low=1)
    num_levels = check_int("num_levels", num_levels, low=2, high=256)
    seed, split_seed = check_seed("seed", seed), check_seed("split_seed", split_seed)
    if take is not None:
        take = check_int("take", take, low=1)
    if shuffle is None:
        shuffle = split == "train"
    parsed, source, image_size, test_fraction = _open(spec, image_size, test_fraction, data_dir)
    no_labels = DatasetError(f"dataset {spec!r} has no labels; call load(..., labels=False)")

    if source is not None:
        if labels and source.label_key is None:
            raise no_labels
        ds = source.dataset(split, image_size, bool(labels), take)
        buffer = source.shuffle_buffer(image_size, take)
    else:
        images, y = _memory_split(parsed, split, image_size, test_fraction, split_seed)
        if labels and y is None:
            raise no_labels
        if take is not None:
            images, y = images[:take], (None if y is None else y[:take])
        if len(images) == 0:
            raise DatasetError(
                f"split {split!r} of dataset {spec!r} is empty; use split='all' or more data"
            )
        ds = tf.data.Dataset.from_tensor_slices((images, y) if labels else (images,))
        buffer = len(images)
    return pipeline(ds, mode=mode, num_levels=num_levels, shuffle=shuffle, buffer=buffer,
                    seed=seed, batch_size=batch_size, drop_remainder=drop_remainder,
                    repeat=repeat, with_labels=bool(labels))
