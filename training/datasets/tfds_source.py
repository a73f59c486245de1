"""The tensorflow-datasets source: ``NAME`` or ``tfds:NAME[:VERSION]`` specs.

Images are streamed from the prepared tfds files; nothing is downloaded unless
the builder is unprepared, and then a failure says how to prepare it offline.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools

import numpy as np
import tensorflow as tf

from training.datasets.spec import BUILTIN_KINDS, DatasetError, reraise

# tfds datasets whose pixels are stored as {0, 1} rather than 0..255. Detection
# is by name because tfds feature metadata carries no value range, and looking
# at pixel values would misfire on (nearly) black images of ordinary datasets.
ZERO_ONE_TFDS = frozenset({"binarized_mnist"})

# Budget for the shuffle buffer: large images (CelebA) get a shorter buffer so
# shuffling holds about this many bytes of pixels, within the range.
_SHUFFLE_BUFFER_BYTES = 256 * 2**20
_SHUFFLE_BUFFER_RANGE = (1_000, 50_000)


def _tfds():
    # Imported lazily: digits/npz/dir users should not pay for (or need) tfds.
    import tensorflow_datasets as tfds

    return tfds


@functools.lru_cache(maxsize=1)
def _builder_names():
    # Community datasets are excluded: listing them needs the network.
    return tuple(_tfds().list_builders(with_community_datasets=False))


def _unknown_spec_error(spec, name):
    known = list(_builder_names()) + ["digits"]
    close = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return DatasetError(
        f"unknown dataset spec {spec!r}: {name!r} is neither a built-in kind "
        f"({', '.join(BUILTIN_KINDS)}) nor a tensorflow-datasets builder{hint}"
    )


def _download_hint(spec):
    return (
        f"could not load tensorflow-datasets data for {spec!r}. If there is no network "
        "here, pre-download it on a connected machine (tfds.load or `tfds build`) and "
        "pass data_dir=<that folder>"
    )


@dataclasses.dataclass
class TfdsSource:
    spec: str
    builder: object
    image_key: str
    label_key: str | None
    num_classes: int | None
    stored_shape: tuple  # (H, W, C) as tfds stores it; H/W may be None
    zero_one: bool

    @property
    def channels(self):
        return 3 if self.stored_shape[2] == 4 else self.stored_shape[2]

    def image_shape(self, image_size):
        if image_size is not None:
            return (image_size[0], image_size[1], self.channels)
        h, w, _ = self.stored_shape
        if h is None or w is None:
            raise DatasetError(
                f"dataset {self.spec!r} has images of varying size {self.stored_shape}; "
                "pass image_size=(H, W) to resize them"
            )
        return (int(h), int(w), self.channels)

    def shuffle_buffer(self, image_size, take):
        h, w, c = self.image_shape(image_size)
        low, high = _SHUFFLE_BUFFER_RANGE
        buffer = int(np.clip(_SHUFFLE_BUFFER_BYTES // (h * w * c), low, high))
        return buffer if take is None else min(buffer, take)

    def available_splits(self):
        try:
            return tuple(self.builder.info.splits.keys())
        except Exception:  # unprepared builders may not know their splits
            return ()

    def resolve_split(self, split):
        available = self.available_splits()
        if split != "test" or not available or "test" in available:
            # Unknown splits (not prepared yet) are left for tfds to validate.
            return split
        if "validation" in available:
            return "validation"
        raise DatasetError(
            f"dataset {self.spec!r} has neither a 'test' nor a 'validation' split "
            f"(splits: {list(available)})"
        )

    def num_examples(self, split):
        available = self.available_splits()
        tfds_split = self.resolve_split(split)
        if tfds_split not in available:
            return None
        return int(self.builder.info.splits[tfds_split].num_examples)

    def dataset(self, split, image_size, with_labels, take):
        """Streaming dataset of tuples (uint8 image [H,W,C],) or (image, int64 label)."""
        with reraise(Exception, _download_hint(self.spec)):
            # No-op when prepared; otherwise downloads (which fails offline).
            self.builder.download_and_prepare()
            tfds_split = self.resolve_split(split)
            # shuffle_files=False: the stream order must be stable so that an
            # example's index (the key of static binarization) never changes.
            ds = self.builder.as_dataset(split=tfds_split, shuffle_files=False)
        if take is not None:
            # Before decoding-heavy maps so only `take` examples are processed.
            ds = ds.take(take)
        image_key, label_key = self.image_key, self.label_key
        zero_one, stored_c = self.zero_one, self.stored_shape[2]

        def select(example):
            image = example[image_key]
            if stored_c == 4:
                image = image[..., :3]
            if zero_one:
                image = tf.where(image > 0, tf.constant(255, tf.uint8), tf.constant(0, tf.uint8))
            if image_size is not None:
                image = tf.image.resize(image, image_size, method="bilinear", antialias=True)
                image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
            if with_labels:
                return image, tf.cast(example[label_key], tf.int64)
            return (image,)

        return ds.map(select, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def arrays(self, split, image_size):
        """The whole split materialized: (uint8 [N,H,W,C], int64 [N] or None)."""
        shape = self.image_shape(image_size)
        with_labels = self.label_key is not None
        ds = self.dataset(split, image_size, with_labels, take=None).batch(1024)
        images, labels = [], []
        for batch in _tfds().as_numpy(ds):
            images.append(batch[0])
            if with_labels:
                labels.append(batch[1])
        if not images:
            return np.zeros((0, *shape), np.uint8), (np.zeros((0,), np.int64) if with_labels else None)
        return np.concatenate(images), (np.concatenate(labels) if with_labels else None)


def open_tfds(spec, name, data_dir):
    """A TfdsSource for builder `name`; fails before any download for unknown names."""
    base = name.split(":")[0].split("/")[0]
    if base not in _builder_names():
        raise _unknown_spec_error(spec, name)
    tfds = _tfds()
    with reraise(Exception, f"cannot open tensorflow-datasets builder for {spec!r}"):
        builder = tfds.builder(name, data_dir=data_dir)
    features = builder.info.features
    if not isinstance(features, tfds.features.FeaturesDict):
        raise DatasetError(f"dataset {spec!r} has no dict of features, so no image to read")
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    if not image_keys:
        raise DatasetError(
            f"dataset {spec!r} has no image feature (features: {list(features.keys())}); "
            "only image datasets can be loaded"
        )
    image_key = "image" if "image" in image_keys else image_keys[0]
    image = features[image_key]
    shape = tuple(image.shape)
    if np.dtype(image.np_dtype) != np.uint8 or len(shape) != 3 or shape[2] not in (1, 3, 4):
        raise DatasetError(
            f"dataset {spec!r}: image feature {image_key!r} has shape {shape} and dtype "
            f"{np.dtype(image.np_dtype)}; expected uint8 [H,W,C] with C in {{1, 3, 4}}"
        )
    label = features["label"] if "label" in features.keys() else None
    if isinstance(label, tfds.features.ClassLabel):
        label_key, num_classes = "label", int(label.num_classes)
    else:
        label_key, num_classes = None, None
    return TfdsSource(
        spec=spec,
        builder=builder,
        image_key=image_key,
        label_key=label_key,
        num_classes=num_classes,
        stored_shape=shape,
        zero_one=base in ZERO_ONE_TFDS,
    )
