"""Spec strings, argument checks and the error type shared by every source."""

from __future__ import annotations

import contextlib
import dataclasses
import os

import numpy as np

MODES = ("unit", "symmetric", "binary_static", "binary_dynamic", "levels")
SPLITS = ("train", "test", "all")
BUILTIN_KINDS = ("digits", "npz:PATH", "dir:PATH", "toy:NAME[:N[:SEED]]")


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


@contextlib.contextmanager
def reraise(errors, message):
    """Turns the library `errors` raised inside the block into a DatasetError.

    The message names what was being read; the original error's type and text
    are appended so nothing the library said is lost.
    """
    try:
        yield
    except DatasetError:
        raise
    except errors as err:
        raise DatasetError(f"{message} ({type(err).__name__}: {err})") from err


# --------------------------------------------------------------------------
# Argument checking


def check_int(name, value, *, low=None, high=None):
    # bool is an int subclass; batch_size=True is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DatasetError(f"{name} must be an int, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise DatasetError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def check_seed(name, seed):
    return check_int(name, seed, low=0, high=2**63 - 1)


def check_split(split):
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; valid splits are {SPLITS}")
    return split


def check_mode(mode):
    if mode not in MODES:
        raise DatasetError(f"unknown mode {mode!r}; valid modes are {MODES}")
    return mode


def check_image_size(image_size):
    if image_size is None:
        return None
    try:
        h, w = image_size
    except (TypeError, ValueError):
        raise DatasetError(
            f"image_size must be a pair (H, W) of positive ints, got {image_size!r}"
        ) from None
    return (
        check_int("image_size[0] (height)", h, low=1),
        check_int("image_size[1] (width)", w, low=1),
    )


def check_test_fraction(test_fraction):
    ok = isinstance(test_fraction, (float, int, np.floating)) and not isinstance(
        test_fraction, bool
    )
    if not ok or not 0.0 < float(test_fraction) < 1.0:
        raise DatasetError(
            f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}"
        )
    return float(test_fraction)


def check_data_dir(data_dir):
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


def check_source_args(image_size, test_fraction, data_dir):
    """The arguments every entry point takes to locate and size the data."""
    return (check_image_size(image_size), check_test_fraction(test_fraction),
            check_data_dir(data_dir))


# --------------------------------------------------------------------------
# Spec parsing


@dataclasses.dataclass(frozen=True)
class Spec:
    kind: str  # "digits" | "npz" | "dir" | "toy" | "tfds"
    arg: str | None


def parse_spec(spec):
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(
            f"dataset spec must be a non-empty string, got {spec!r}; "
            f"valid kinds: {', '.join(BUILTIN_KINDS)} or a tensorflow-datasets name"
        )
    if spec == "digits":
        return Spec("digits", None)
    for prefix in ("npz", "dir", "toy", "tfds"):
        if spec.startswith(prefix + ":"):
            arg = spec[len(prefix) + 1 :]
            if not arg:
                what = "NAME" if prefix in ("tfds", "toy") else "PATH"
                raise DatasetError(f"dataset spec {spec!r} is missing the {what} after '{prefix}:'")
            if prefix in ("npz", "dir"):
                arg = os.path.expanduser(arg)
            return Spec(prefix, arg)
    return Spec("tfds", spec)
