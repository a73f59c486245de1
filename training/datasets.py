"""Image datasets for the model zoo: one spec string -> a batched tf.data pipeline.

Spec grammar
------------
``digits``
    The 8x8 handwritten digits bundled with scikit-learn (1797 images, labels
    0..9, pixel values 0..16 rescaled to uint8 by ``round(v * 255 / 16)``).
    Needs no network, so it is the default for tests and quick experiments.
``npz:PATH``
    A NumPy ``.npz`` archive with an array ``x`` of shape [N,H,W] or
    [N,H,W,C] (C in {1, 3}; uint8, or floating point in [0, 1] which is
    scaled by 255) and an optional integer array ``y`` of N labels.
``dir:PATH``
    A folder of png/jpg/jpeg/bmp/gif images, either flat (no labels) or with
    one sub-folder per class (class index = position of the sub-folder name
    in sorted order, counting only sub-folders that contain images). Files
    with other extensions are ignored. Greyscale files give C=1 and colour
    files C=3; a folder mixing both is loaded entirely as RGB (grey is
    replicated, which loses nothing). Alpha channels are dropped, 16-bit
    greyscale is rescaled to 8 bits. All images must share one size unless
    ``image_size`` is given.
``NAME`` or ``tfds:NAME``
    Any tensorflow-datasets image dataset (``mnist``, ``fashion_mnist``,
    ``binarized_mnist``, ``cifar10``, ``celeb_a``, ...), optionally with a
    config/version as tfds accepts it (``tfds:celeb_a:2.1.0``). Images are
    streamed from the tfds files, never held in memory by :func:`load`. The
    image is the feature "image" (else the first Image feature); labels come
    from a ClassLabel feature named "label", if any. Datasets listed in
    ``ZERO_ONE_TFDS`` (``binarized_mnist``) store pixels as {0, 1}; for
    them every non-zero pixel becomes 255 so all sources share one range.

``digits``, ``npz:`` and ``dir:`` have no predefined split: a deterministic
train/test split is drawn from ``np.random.default_rng(seed)`` with
``test_fraction`` of the examples in "test". tfds datasets use their own
"train" and "test" splits ("validation" when the builder has no "test").
Every source also accepts the split "all". Within a split, examples keep
their source order (``take=n`` means the first n); ``image_size=(H, W)``
resizes bilinearly (antialiased) for every source.

Preprocessing modes (``mode=``)
-------------------------------
``unit``            float32 in [0, 1]  (x / 255)
``symmetric``       float32 in [-1, 1] (x / 127.5 - 1)
``binary_static``   float32 in {0, 1}: pixel on with probability x / 255,
                    drawn once per example (identical in every epoch and
                    every call), the fixed stochastic binarization of
                    Larochelle & Murray (2011).
``binary_dynamic``  float32 in {0, 1}, redrawn every epoch (Salakhutdinov &
                    Murray, 2008); reproducible given ``seed``.
``levels``          int32 in [0, num_levels - 1]: floor(x * num_levels / 256),
                    the discrete targets of autoregressive models.

Every bad input raises :class:`DatasetError` (a ``ValueError``) whose message
names the offending spec/path/shape and what would have been accepted.

References
----------
- R. Salakhutdinov and I. Murray. On the quantitative analysis of deep belief
  networks. ICML 2008.
- H. Larochelle and I. Murray. The neural autoregressive distribution
  estimator. AISTATS 2011.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import zipfile
import zlib

import numpy as np
import tensorflow as tf

__all__ = ["DatasetError", "DatasetInfo", "MODES", "info", "load", "load_arrays"]

MODES = ("unit", "symmetric", "binary_static", "binary_dynamic", "levels")
SPLITS = ("train", "test", "all")
BUILTIN_KINDS = ("digits", "npz:PATH", "dir:PATH")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

# tfds datasets whose pixels are stored as {0, 1} rather than 0..255. Detection
# is by name because tfds feature metadata carries no value range, and looking
# at pixel values would misfire on (nearly) black images of ordinary datasets.
ZERO_ONE_TFDS = frozenset({"binarized_mnist"})

# Budget for the tfds shuffle buffer: large images (CelebA) get a shorter
# buffer so shuffling holds about this many bytes of pixels, within the range.
_SHUFFLE_BUFFER_BYTES = 256 * 2**20
_SHUFFLE_BUFFER_RANGE = (1_000, 50_000)
_RESIZE_CHUNK = 4096


class DatasetError(ValueError):
    """A dataset spec or loading argument is invalid or cannot be served."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset spec.

    Attributes:
        name: the spec exactly as given.
        image_shape: (H, W, C) of the images after any ``image_size`` resize.
        num_classes: number of label classes, or None when there are no labels.
        num_examples: ``{"train": n, "test": n}``; for digits/npz/dir the sizes
            of our deterministic split; for tfds the sizes recorded by tfds,
            or None for a dataset that is not prepared locally yet.
    """

    name: str
    image_shape: tuple
    num_classes: int | None
    num_examples: dict


# --------------------------------------------------------------------------
# Argument checking


def _check_int(name, value, *, low=None, high=None):
    # bool is an int subclass; batch_size=True is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DatasetError(f"{name} must be an int, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise DatasetError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def _check_split(split):
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; valid splits are {SPLITS}")
    return split


def _check_image_size(image_size):
    if image_size is None:
        return None
    try:
        h, w = image_size
    except (TypeError, ValueError):
        raise DatasetError(
            f"image_size must be a pair (H, W) of positive ints, got {image_size!r}"
        ) from None
    return (
        _check_int("image_size[0] (height)", h, low=1),
        _check_int("image_size[1] (width)", w, low=1),
    )


def _check_test_fraction(test_fraction):
    ok = isinstance(test_fraction, (float, int, np.floating)) and not isinstance(
        test_fraction, bool
    )
    if not ok or not 0.0 < float(test_fraction) < 1.0:
        raise DatasetError(
            f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}"
        )
    return float(test_fraction)


def _check_data_dir(data_dir):
    if data_dir is None:
        return None
    data_dir = os.path.expanduser(os.fspath(data_dir))
    # tfds would silently create a mistyped folder and then try to download
    # into it; an explicit folder that does not exist is almost always a typo.
    if not os.path.isdir(data_dir):
        raise DatasetError(
            f"data_dir {data_dir!r} does not exist; pass the folder that holds "
            "prepared tensorflow-datasets data (create it first to download into it)"
        )
    return data_dir


# --------------------------------------------------------------------------
# Spec parsing


@dataclasses.dataclass(frozen=True)
class _Spec:
    kind: str  # "digits" | "npz" | "dir" | "tfds"
    arg: str | None


def _parse_spec(spec):
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(
            f"dataset spec must be a non-empty string, got {spec!r}; "
            f"valid kinds: {', '.join(BUILTIN_KINDS)} or a tensorflow-datasets name"
        )
    if spec == "digits":
        return _Spec("digits", None)
    for prefix in ("npz", "dir", "tfds"):
        if spec.startswith(prefix + ":"):
            arg = spec[len(prefix) + 1 :]
            if not arg:
                what = "NAME" if prefix == "tfds" else "PATH"
                raise DatasetError(f"dataset spec {spec!r} is missing the {what} after '{prefix}:'")
            if prefix != "tfds":
                arg = os.path.expanduser(arg)
            return _Spec(prefix, arg)
    return _Spec("tfds", spec)


# --------------------------------------------------------------------------
# In-memory sources: digits, npz, dir


@functools.lru_cache(maxsize=1)
def _digits_raw():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    # Cached and shared: freeze so no caller can corrupt later loads.
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _read_npz(path):
    if not os.path.isfile(path):
        raise DatasetError(f"npz file not found: {path!r}")
    unreadable = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError)
    try:
        loaded = np.load(path, allow_pickle=False)
    except unreadable as err:
        raise DatasetError(
            f"cannot read npz file {path!r}: not a valid .npz archive ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DatasetError(
            f"{path!r} holds a single .npy array, not an .npz archive; "
            "save it with np.savez(path, x=images, y=labels)"
        )
    with loaded as archive:
        keys = sorted(archive.files)
        if "x" not in keys:
            raise DatasetError(
                f"npz file {path!r} has no array 'x' (arrays found: {keys}); "
                "expected 'x' with images and optionally 'y' with labels"
            )
        try:
            # Members are decompressed lazily, so damage can surface only here.
            x = archive["x"]
            y = archive["y"] if "y" in keys else None
        except unreadable as err:
            raise DatasetError(
                f"cannot read npz file {path!r}: corrupt archive member ({type(err).__name__}: {err})"
            ) from err

    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DatasetError(
            f"npz file {path!r}: 'x' has shape {tuple(x.shape)}; "
            "expected [N,H,W] or [N,H,W,C] with C in {1, 3}"
        )
    if x.shape[-1] not in (1, 3):
        raise DatasetError(
            f"npz file {path!r}: 'x' has shape {tuple(x.shape)} with {x.shape[-1]} channels; "
            "expected C in {1, 3} (greyscale or RGB)"
        )
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DatasetError(f"npz file {path!r}: 'x' is empty (shape {tuple(x.shape)})")

    if x.dtype == np.uint8:
        images = x
    elif np.issubdtype(x.dtype, np.floating):
        lo, hi = float(np.min(x)), float(np.max(x))
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0):
            raise DatasetError(
                f"npz file {path!r}: float 'x' must lie in [0, 1] (found min {lo}, max {hi}); "
                "store uint8 0..255 instead"
            )
        images = np.round(x.astype(np.float64) * 255.0).astype(np.uint8)
    else:
        raise DatasetError(
            f"npz file {path!r}: 'x' has dtype {x.dtype}; expected uint8 (0..255) or "
            "float in [0, 1] (convert with x.astype(np.uint8) if values are 0..255)"
        )

    labels = None
    if y is not None:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(
                f"npz file {path!r}: 'y' has shape {tuple(y.shape)} and dtype {y.dtype}; "
                "expected a 1-D integer array of labels"
            )
        if len(y) != len(images):
            raise DatasetError(
                f"npz file {path!r}: 'y' has length {len(y)} but 'x' has {len(images)} images; "
                "they must match"
            )
        if np.min(y) < 0:
            raise DatasetError(
                f"npz file {path!r}: 'y' has negative labels (min {int(np.min(y))}); "
                "expected class indices 0..K-1"
            )
        labels = y.astype(np.int64)
    return images, labels


_GREY_MODES = frozenset({"1", "L", "LA", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


def _pil_to_array(img, path):
    """uint8 [H,W] for greyscale images or [H,W,3] for colour ones."""
    mode = img.mode
    if mode in _GREY_MODES:
        return np.asarray(img.convert("L"))
    if mode in _SIXTEEN_BIT_MODES:
        # 16-bit greyscale PNGs open in these modes; PIL's convert("L") would
        # clip instead of rescale, so map 0..65535 -> 0..255 ourselves.
        wide = np.asarray(img).astype(np.float64)
        return np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8)
    if mode == "F":
        raise DatasetError(
            f"image file {path!r} has floating-point pixels (PIL mode 'F'), which has no "
            "defined 0..255 range; save it as 8-bit greyscale or RGB"
        )
    rgb = np.asarray(img.convert("RGB"))  # drops alpha (RGBA/LA/PA) without blending
    if mode in ("P", "PA") and np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(
        rgb[..., 0], rgb[..., 2]
    ):
        # Palette files (typical for GIF) are often greyscale in disguise.
        return rgb[..., 0].copy()
    return rgb


def _list_image_folder(root):
    """[(path, class_index or None)], class names (empty for a flat folder)."""
    if not os.path.exists(root):
        raise DatasetError(f"image folder not found: {root!r}")
    if not os.path.isdir(root):
        raise DatasetError(f"dir: spec must name a folder, but {root!r} is a file")

    def image_files(folder):
        names = sorted(
            n
            for n in os.listdir(folder)
            if not n.startswith(".")
            and n.lower().endswith(IMAGE_EXTENSIONS)
            and os.path.isfile(os.path.join(folder, n))
        )
        return [os.path.join(folder, n) for n in names]

    flat = image_files(root)
    subdirs = sorted(
        n
        for n in os.listdir(root)
        if not n.startswith(".") and os.path.isdir(os.path.join(root, n))
    )
    classes = [d for d in subdirs if image_files(os.path.join(root, d))]
    if flat and classes:
        raise DatasetError(
            f"image folder {root!r} mixes images at the top level (e.g. "
            f"{os.path.basename(flat[0])!r}) with class sub-folders ({classes[:3]}); "
            "use either a flat folder or one sub-folder per class"
        )
    if classes:
        entries = [
            (path, idx)
            for idx, name in enumerate(classes)
            for path in image_files(os.path.join(root, name))
        ]
    else:
        entries = [(path, None) for path in flat]
    if not entries:
        raise DatasetError(
            f"no images ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)}) found in folder {root!r} "
            "or its immediate sub-folders"
        )
    return entries, classes


def _read_image_folder(root, image_size):
    from PIL import Image

    entries, classes = _list_image_folder(root)
    arrays, sizes = [], {}
    for path, _ in entries:
        try:
            with Image.open(path) as img:
                img.load()  # decode now so truncated files fail here, with the file named
                arr = _pil_to_array(img, path)
        except DatasetError:
            raise
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise DatasetError(
                f"cannot read image file {path!r}: {type(err).__name__}: {err}"
            ) from err
        if image_size is not None and arr.shape[:2] != image_size:
            h, w = image_size
            arr = np.asarray(Image.fromarray(arr).resize((w, h), Image.Resampling.BILINEAR))
        sizes.setdefault(arr.shape[:2], path)
        arrays.append(arr)

    if len(sizes) > 1:
        examples = ", ".join(
            f"{h}x{w} (e.g. {os.path.basename(p)!r})" for (h, w), p in list(sizes.items())[:3]
        )
        raise DatasetError(
            f"images in {root!r} have different sizes: {examples}; "
            "pass image_size=(H, W) to resize them all"
        )
    # Mixed greyscale/colour folders become RGB: replicating grey into three
    # channels is lossless, whereas a majority vote would discard colour.
    if any(a.ndim == 3 for a in arrays):
        arrays = [np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a for a in arrays]
        images = np.stack(arrays)
    else:
        images = np.stack(arrays)[..., None]
    labels = None
    if classes:
        labels = np.array([idx for _, idx in entries], dtype=np.int64)
    return images, labels, (len(classes) if classes else None)


def _resize_array(images, image_size):
    if image_size is None or tuple(images.shape[1:3]) == tuple(image_size):
        return images
    out = []
    # Chunked so a large npz does not need a full float32 copy at once.
    for start in range(0, len(images), _RESIZE_CHUNK):
        chunk = tf.image.resize(
            images[start : start + _RESIZE_CHUNK], image_size, method="bilinear", antialias=True
        )
        out.append(np.clip(np.round(chunk.numpy()), 0, 255).astype(np.uint8))
    return np.concatenate(out)


def _load_memory(parsed, image_size):
    """(uint8 images [N,H,W,C], int64 labels [N] or None, num_classes or None)."""
    if parsed.kind == "digits":
        images, labels = _digits_raw()
        return _resize_array(images, image_size), labels, 10
    if parsed.kind == "npz":
        images, labels = _read_npz(parsed.arg)
        num_classes = None if labels is None else int(labels.max()) + 1
        return _resize_array(images, image_size), labels, num_classes
    return _read_image_folder(parsed.arg, image_size)


def _split_sizes(n, test_fraction):
    if n < 2:
        return n, 0
    # Both parts non-empty whenever there are at least two examples.
    n_test = min(max(int(round(n * test_fraction)), 1), n - 1)
    return n - n_test, n_test


def _split_indices(n, split, test_fraction, seed):
    if split == "all":
        return np.arange(n)
    _, n_test = _split_sizes(n, test_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    chosen = perm[:n_test] if split == "test" else perm[n_test:]
    # Source order inside a split keeps `take=` and unshuffled reads meaningful.
    return np.sort(chosen)


# --------------------------------------------------------------------------
# tensorflow-datasets


def _tfds():
    # Imported lazily: digits/npz/dir users should not pay for (or need) tfds.
    import tensorflow_datasets as tfds

    return tfds


@functools.lru_cache(maxsize=1)
def _tfds_builder_names():
    # Community datasets are excluded: listing them needs the network.
    return tuple(_tfds().list_builders(with_community_datasets=False))


def _unknown_spec_error(spec, name):
    known = list(_tfds_builder_names()) + ["digits"]
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
class _TfdsSource:
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
        return (h, w, self.channels)

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
        """Streaming dataset of uint8 images [H,W,C] (and int64 labels)."""
        try:
            # No-op when prepared; otherwise downloads (which fails offline).
            self.builder.download_and_prepare()
            tfds_split = self.resolve_split(split)
            # shuffle_files=False: the stream order must be stable so that an
            # example's index (the key of static binarization) never changes.
            ds = self.builder.as_dataset(split=tfds_split, shuffle_files=False)
        except DatasetError:
            raise
        except Exception as err:
            raise DatasetError(f"{_download_hint(self.spec)} ({type(err).__name__}: {err})") from err
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


def _open_tfds(spec, name, data_dir):
    base = name.split(":")[0].split("/")[0]
    if base not in _tfds_builder_names():
        raise _unknown_spec_error(spec, name)
    tfds = _tfds()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as err:
        raise DatasetError(
            f"cannot open tensorflow-datasets builder for {spec!r}: {type(err).__name__}: {err}"
        ) from err
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
    return _TfdsSource(
        spec=spec,
        builder=builder,
        image_key=image_key,
        label_key=label_key,
        num_classes=num_classes,
        stored_shape=shape,
        zero_one=base in ZERO_ONE_TFDS,
    )


# --------------------------------------------------------------------------
# Public API


def info(spec, *, image_size=None, data_dir=None, test_fraction=0.2):
    """Describe a dataset without building a pipeline.

    For digits/npz/dir the data is read (to learn its shape and labels); for
    tfds only the builder metadata is consulted, nothing is downloaded.

    Args:
        spec: dataset spec string (see the module docstring).
        image_size: optional (H, W) the images would be resized to.
        data_dir: folder with prepared tensorflow-datasets data (tfds only).
        test_fraction: fraction in (0, 1) held out as "test" by sources with no
            predefined split; only affects ``num_examples``.

    Returns:
        A :class:`DatasetInfo`.

    Raises:
        DatasetError: for an invalid spec or argument, or unreadable data.
    """
    image_size = _check_image_size(image_size)
    test_fraction = _check_test_fraction(test_fraction)
    data_dir = _check_data_dir(data_dir)
    parsed = _parse_spec(spec)
    if parsed.kind == "tfds":
        source = _open_tfds(spec, parsed.arg, data_dir)
        return DatasetInfo(
            name=spec,
            image_shape=tuple(int(d) for d in source.image_shape(image_size)),
            num_classes=source.num_classes,
            num_examples={"train": source.num_examples("train"), "test": source.num_examples("test")},
        )
    images, _, num_classes = _load_memory(parsed, image_size)
    n_train, n_test = _split_sizes(len(images), test_fraction)
    return DatasetInfo(
        name=spec,
        image_shape=tuple(int(d) for d in images.shape[1:]),
        num_classes=num_classes,
        num_examples={"train": n_train, "test": n_test},
    )


def load_arrays(spec, split="train", *, image_size=None, test_fraction=0.2, seed=0, data_dir=None):
    """Raw images and labels of one split as NumPy arrays, before preprocessing.

    Row ``i`` of the result is the example that :func:`load` (with the same
    arguments) keys as index ``i``, e.g. for static binarization.

    Args:
        spec: dataset spec string (see the module docstring).
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
    split = _check_split(split)
    image_size = _check_image_size(image_size)
    test_fraction = _check_test_fraction(test_fraction)
    seed = _check_int("seed", seed, low=0, high=2**63 - 1)
    data_dir = _check_data_dir(data_dir)
    parsed = _parse_spec(spec)
    if parsed.kind == "tfds":
        source = _open_tfds(spec, parsed.arg, data_dir)
        shape = source.image_shape(image_size)
        with_labels = source.label_key is not None
        ds = source.dataset(split, image_size, with_labels, take=None).batch(1024)
        images, labels = [], []
        for batch in _tfds().as_numpy(ds):
            images.append(batch[0])
            if with_labels:
                labels.append(batch[1])
        if not images:
            return np.zeros((0, *shape), np.uint8), (np.zeros((0,), np.int64) if with_labels else None)
        return np.concatenate(images), (np.concatenate(labels) if with_labels else None)
    images, labels, _ = _load_memory(parsed, image_size)
    idx = _split_indices(len(images), split, test_fraction, seed)
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
        spec: dataset spec string (see the module docstring).
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

    References:
        - R. Salakhutdinov and I. Murray. On the quantitative analysis of deep
          belief networks. ICML 2008. (dynamic binarization)
        - H. Larochelle and I. Murray. The neural autoregressive distribution
          estimator. AISTATS 2011. (fixed binarization of MNIST)
    """
    # Cheap argument checks first, so mistakes fail before any data is read.
    split = _check_split(split)
    if mode not in MODES:
        raise DatasetError(f"unknown mode {mode!r}; valid modes are {MODES}")
    batch_size = _check_int("batch_size", batch_size, low=1)
    num_levels = _check_int("num_levels", num_levels, low=2, high=256)
    seed = _check_int("seed", seed, low=0, high=2**63 - 1)
    split_seed = _check_int("split_seed", split_seed, low=0, high=2**63 - 1)
    if take is not None:
        take = _check_int("take", take, low=1)
    if shuffle is None:
        shuffle = split == "train"
    image_size = _check_image_size(image_size)
    test_fraction = _check_test_fraction(test_fraction)
    data_dir = _check_data_dir(data_dir)
    parsed = _parse_spec(spec)

    if parsed.kind == "tfds":
        source = _open_tfds(spec, parsed.arg, data_dir)
        if labels and source.label_key is None:
            raise DatasetError(f"dataset {spec!r} has no labels; call load(..., labels=False)")
        h, w, c = source.image_shape(image_size)
        ds = source.dataset(split, image_size, bool(labels), take)
        low, high = _SHUFFLE_BUFFER_RANGE
        buffer = int(np.clip(_SHUFFLE_BUFFER_BYTES // (h * w * c), low, high))
        if take is not None:
            buffer = min(buffer, take)
    else:
        images, y = load_arrays(
            spec, split, image_size=image_size, test_fraction=test_fraction,
            seed=split_seed,
        )
        if labels and y is None:
            raise DatasetError(f"dataset {spec!r} has no labels; call load(..., labels=False)")
        if take is not None:
            images, y = images[:take], (None if y is None else y[:take])
        if len(images) == 0:
            raise DatasetError(
                f"split {split!r} of dataset {spec!r} is empty; use split='all' or more data"
            )
        ds = tf.data.Dataset.from_tensor_slices((images, y) if labels else (images,))
        buffer = len(images)

    return _pipeline(
        ds,
        mode=mode,
        num_levels=num_levels,
        shuffle=shuffle,
        buffer=buffer,
        seed=seed,
        batch_size=batch_size,
        drop_remainder=drop_remainder,
        repeat=repeat,
        with_labels=bool(labels),
    )


def _pipeline(ds, *, mode, num_levels, shuffle, buffer, seed, batch_size, drop_remainder,
              repeat, with_labels):
    """Common tail: index, shuffle, repeat, binarize/scale, batch, prefetch.

    ``ds`` yields tuples ``(image uint8 [H,W,C],)`` or ``(image, label)``.
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
            image = tf.cast(element[0], tf.float32) / 255.0
            noise = tf.random.stateless_uniform(tf.shape(image), seed=tf.stack([seed_t, index]))
            return index, (tf.cast(noise < image, tf.float32),) + tuple(element[1:])

        ds = ds.map(binarize_static, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def convert(element, key):
        images = element[0]
        if mode == "unit":
            out = tf.cast(images, tf.float32) / 255.0
        elif mode == "symmetric":
            out = tf.cast(images, tf.float32) / 127.5 - 1.0
        elif mode == "binary_static":
            out = images  # already binarized per example above
        elif mode == "binary_dynamic":
            probs = tf.cast(images, tf.float32) / 255.0
            noise = tf.random.stateless_uniform(tf.shape(probs), seed=tf.stack([seed_t, key]))
            out = tf.cast(noise < probs, tf.float32)
        else:  # levels
            out = (tf.cast(images, tf.int32) * num_levels) // 256
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
