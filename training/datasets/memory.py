"""In-memory sources: scikit-learn's digits, npz archives, image folders, 2-D toys.

They all give uint8 images [N,H,W,C] with C in {1, 3} and optional int64
labels, and share one deterministic train/test split.
"""

from __future__ import annotations

import functools
import os
import zipfile
import zlib

import numpy as np
import tensorflow as tf

from training.datasets.folder import read_image_folder
from training.datasets.spec import DatasetError, reraise
from training.datasets.toy import toy_points

_RESIZE_CHUNK = 4096
# Everything np.load and a lazily decompressed member can throw at a bad file.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError)


@functools.lru_cache(maxsize=1)
def digits_raw():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    # Cached and shared: freeze so no caller can corrupt later loads.
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def read_npz(path):
    """(uint8 images [N,H,W,C], int64 labels [N] or None) from an .npz file."""
    if not os.path.isfile(path):
        raise DatasetError(f"npz file not found: {path!r}")
    with reraise(_UNREADABLE, f"cannot read npz file {path!r}: not a valid .npz archive"):
        loaded = np.load(path, allow_pickle=False)
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
        # Members are decompressed lazily, so damage can surface only here.
        with reraise(_UNREADABLE, f"cannot read npz file {path!r}: corrupt archive member"):
            x = archive["x"]
            y = archive["y"] if "y" in keys else None
    images = _npz_images(path, x)
    return images, (None if y is None else _npz_labels(path, y, len(images)))


def _npz_images(path, x):
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
        return x
    if np.issubdtype(x.dtype, np.floating):
        lo, hi = float(np.min(x)), float(np.max(x))
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0):
            raise DatasetError(
                f"npz file {path!r}: float 'x' must lie in [0, 1] (found min {lo}, max {hi}); "
                "store uint8 0..255 instead"
            )
        return np.round(x.astype(np.float64) * 255.0).astype(np.uint8)
    raise DatasetError(
        f"npz file {path!r}: 'x' has dtype {x.dtype}; expected uint8 (0..255) or "
        "float in [0, 1] (convert with x.astype(np.uint8) if values are 0..255)"
    )


def _npz_labels(path, y, num_images):
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(
            f"npz file {path!r}: 'y' has shape {tuple(y.shape)} and dtype {y.dtype}; "
            "expected a 1-D integer array of labels"
        )
    if len(y) != num_images:
        raise DatasetError(
            f"npz file {path!r}: 'y' has length {len(y)} but 'x' has {num_images} images; "
            "they must match"
        )
    if np.min(y) < 0:
        raise DatasetError(
            f"npz file {path!r}: 'y' has negative labels (min {int(np.min(y))}); "
            "expected class indices 0..K-1"
        )
    return y.astype(np.int64)


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


def load_memory(parsed, image_size):
    """(uint8 images [N,H,W,C], int64 labels [N] or None, num_classes or None)."""
    if parsed.kind == "digits":
        images, labels = digits_raw()
        return _resize_array(images, image_size), labels, 10
    if parsed.kind == "toy":
        if image_size is not None:
            raise DatasetError("toy datasets are 2-D points (1x1 images with 2 channels); "
                               "they cannot be resized")
        return toy_points(parsed.arg)
    if parsed.kind == "npz":
        images, labels = read_npz(parsed.arg)
        num_classes = None if labels is None else int(labels.max()) + 1
        return _resize_array(images, image_size), labels, num_classes
    return read_image_folder(parsed.arg, image_size)


def split_sizes(n, test_fraction):
    if n < 2:
        return n, 0
    # Both parts non-empty whenever there are at least two examples.
    n_test = min(max(int(round(n * test_fraction)), 1), n - 1)
    return n - n_test, n_test


def split_indices(n, split, test_fraction, seed):
    if split == "all":
        return np.arange(n)
    _, n_test = split_sizes(n, test_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    chosen = perm[:n_test] if split == "test" else perm[n_test:]
    # Source order inside a split keeps `take=` and unshuffled reads meaningful.
    return np.sort(chosen)
