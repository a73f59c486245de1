"""Every argument validator of the zoo, in one place.

Constructor arguments fail with `ConfigError`, tensors passed to a model
with `InputError`; both name the argument and what it got, so the CLIs can
print one `error:` line. Checks on tensor *values* (image range, label
range) are also added to the graph, because an exported signature runs
without this Python code.
"""

import numbers

import numpy as np
import tensorflow as tf

from zoo.errors import ConfigError, InputError

_INT32_MAX = np.iinfo(np.int32).max


def _is_int(value):
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


# ------------------------------------------------------------ constructor args
def positive_int(name, value):
    """A positive integer, returned as int."""
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def int_at_least(name, value, low):
    """An integer >= `low`, returned as int."""
    if not _is_int(value) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def int_in_range(name, value, low, high):
    """An integer in [low, high], returned as int."""
    if not _is_int(value) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def odd_int(name, value):
    """A positive odd integer (a centred kernel size)."""
    value = positive_int(name, value)
    if value % 2 == 0:
        raise ConfigError(f"{name} must be odd, got {value}")
    return value


def multiple_of(name, value, divisor, what):
    """A positive integer that `divisor` (the number of `what`) divides."""
    value = positive_int(name, value)
    if value % divisor:
        raise ConfigError(f"{name} ({value}) must be a multiple of the {what} ({divisor})")
    return value


def positive_ints(name, values, allow_empty=False):
    """A sequence of positive ints (one int is taken as a 1-tuple); returns a tuple."""
    if values is None and allow_empty:
        return ()
    if _is_int(values):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        raise ConfigError(
            f"{name} must be a sequence of positive integers, got {values!r}") from None
    if not values and not allow_empty:
        raise ConfigError(f"{name} must not be empty")
    return tuple(positive_int(name, v) for v in values)


def number(name, value, low=None, high=None, low_open=False, high_open=False):
    """A finite real number in the interval the bounds describe; returns float.

    Args:
      name: the argument's name, for the message.
      value: what the caller passed.
      low, high: bounds or None for unbounded.
      low_open, high_open: True to exclude the bound itself.
    """
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = (f"{lo}{'-inf' if low is None else low}, "
                f"{'inf' if high is None else high}{hi}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")
    v = float(value)
    ok = np.isfinite(v)
    if low is not None:
        ok = ok and (v > low if low_open else v >= low)
    if high is not None:
        ok = ok and (v < high if high_open else v <= high)
    if not ok:
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")
    return v


def non_negative_float(name, value):
    """A finite number >= 0."""
    return number(name, value, low=0.0)


def positive_float(name, value):
    """A finite number > 0."""
    return number(name, value, low=0.0, low_open=True)


def open_unit_float(name, value):
    """A number strictly between 0 and 1."""
    return number(name, value, 0.0, 1.0, low_open=True, high_open=True)


def optional(check, name, value, *args):
    """None, or `check(name, value, *args)`."""
    return None if value is None else check(name, value, *args)


def choice(name, value, options):
    """One of `options`."""
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, options))}, "
                          f"got {value!r}")
    return value


def image_shape(value):
    """(H, W, C) as a tuple of three positive ints."""
    try:
        shape = tuple(int(d) for d in value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"image_shape must be (height, width, channels), got {value!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"image_shape must be three positive ints (height, width, "
                          f"channels), got {value!r}")
    return shape


def seed_value(name, value):
    """None or an integer in [0, 2**31 - 1]."""
    if value is None:
        return None
    return int_in_range(name, value, 0, _INT32_MAX)


# -------------------------------------------------------------------- tensors
def int_vector(name, values, low, high, num_rows=None, interval=None):
    """int32 [N] with every value in [low, high].

    Python inputs are checked at once (`InputError`); the range check is
    also part of the graph, so an exported signature refuses bad requests
    with `InvalidArgumentError`. `interval` is how messages write the range
    (default "[low, high]").
    """
    interval = interval or f"[{low}, {high}]"
    if isinstance(values, (np.ndarray, list, tuple)):
        arr = np.asarray(values)
        if arr.dtype.kind not in "iu":
            raise InputError(f"{name} must be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < low or arr.max() > high):
            raise InputError(f"{name} must lie in {interval}, got values "
                             f"from {arr.min()} to {arr.max()}")
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_integer or values.shape.rank != 1:
        raise InputError(f"{name} must be int [N], got {values.dtype.name} "
                         f"{list(values.shape)}")
    if num_rows is not None and values.shape[0] not in (None, num_rows):
        raise InputError(f"got {values.shape[0]} {name} for {num_rows} rows")
    values = tf.cast(values, tf.int32)
    message = f"{name} must be in {interval}"
    with tf.control_dependencies([
            tf.debugging.assert_greater_equal(values, low, message=message),
            tf.debugging.assert_less_equal(values, high, message=message)]):
        return tf.identity(values)


def labels(values, num_classes, num_rows=None):
    """Class labels as int32 [N] in [0, num_classes)."""
    return int_vector("labels", values, 0, num_classes - 1, num_rows,
                      interval=f"[0, {num_classes})")


def seeds(values):
    """Seed rows as int32 [N, 2] (one stateless seed pair per output row)."""
    if isinstance(values, (np.ndarray, list, tuple)):
        arr = np.asarray(values)
        if arr.dtype.kind not in "iu":
            raise InputError(f"seeds must be integers, got dtype {arr.dtype}")
        values = arr.astype(np.int32)
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_integer:
        raise InputError(f"seeds must be int32 [N, 2], got dtype {values.dtype.name}")
    if values.shape.rank is not None and (
            values.shape.rank != 2 or values.shape[-1] not in (None, 2)):
        raise InputError(f"seeds must have shape [N, 2] (one seed pair per sample), "
                         f"got {values.shape}")
    return tf.cast(values, tf.int32)


def images(values, shape):
    """float32 [N, *shape] with values in [0, 1].

    A wrong rank, shape or dtype raises `InputError`; values outside [0, 1]
    fail with `tf.errors.InvalidArgumentError`, also inside exported
    signatures.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind not in "f":
        raise InputError(f"images must be floats in [0, 1], got dtype {values.dtype}")
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_floating:
        raise InputError(f"images must be floats in [0, 1], got dtype {values.dtype.name}")
    shape_text = ", ".join(map(str, shape))
    got = tuple(values.shape) if values.shape.rank is not None else None
    if got is None or len(got) != 1 + len(shape) or any(
            s is not None and s != e for s, e in zip(got[1:], shape)):
        raise InputError(f"images must have shape [N, {shape_text}] for this model, "
                         f"got {list(got) if got else 'unknown rank'}")
    values = tf.cast(values, tf.float32)
    with tf.control_dependencies([
            # A SavedModel signature does not enforce its TensorSpec's shape
            # at call time, so the shape is checked with the data.
            tf.debugging.assert_equal(tf.shape(values)[1:], tf.constant(shape, tf.int32),
                                      message=f"images must have shape [N, {shape_text}]"),
            tf.debugging.assert_greater_equal(values, 0.0,
                                              message="images must be in [0, 1]"),
            tf.debugging.assert_less_equal(values, 1.0,
                                           message="images must be in [0, 1]")]):
        return tf.identity(values)


def codes(values, dim=None, name="codes"):
    """float32 [N, dim]."""
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_floating:
        raise InputError(f"{name} must be floats, got dtype {values.dtype.name}")
    if values.shape.rank != 2 or (dim is not None and values.shape[-1] not in (None, dim)):
        raise InputError(f"{name} must have shape [N, {dim}], got {list(values.shape)}")
    return tf.cast(values, tf.float32)


def code_width(values, dim, name="z"):
    """float32 [N, dim], the width also asserted in the graph, where a
    served request's shape is not checked against the signature."""
    values = codes(values, dim, name)
    check = tf.debugging.assert_equal(tf.shape(values)[1], dim,
                                      message=f"{name} must have {dim} columns")
    with tf.control_dependencies([check]):
        return tf.identity(values)


def index_grid(values, grid_shape, num_codes, name="codes"):
    """int32 [N, *grid_shape] of codebook indices in [0, num_codes).

    The shape and range are checked in Python and, for served requests
    (whose shape the signature does not enforce), in the graph.
    """
    if isinstance(values, (np.ndarray, list, tuple)):
        arr = np.asarray(values)
        if arr.dtype.kind not in "iu":
            raise InputError(f"{name} must be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= num_codes):
            raise InputError(f"{name} must lie in [0, {num_codes}), got values "
                             f"from {arr.min()} to {arr.max()}")
    values = tf.convert_to_tensor(values)
    grid_text = ", ".join(map(str, grid_shape))
    got = tuple(values.shape) if values.shape.rank is not None else None
    if not values.dtype.is_integer:
        raise InputError(f"{name} must be int32 [N, {grid_text}], got {values.dtype.name}")
    if got is None or len(got) != 1 + len(grid_shape) or any(
            s is not None and s != e for s, e in zip(got[1:], grid_shape)):
        raise InputError(f"{name} must have shape [N, {grid_text}], got "
                         f"{list(got) if got else 'unknown rank'}")
    values = tf.cast(values, tf.int32)
    message = f"{name} must have shape [N, {grid_text}] with values in [0, {num_codes})"
    with tf.control_dependencies([
            tf.debugging.assert_equal(tf.shape(values)[1:],
                                      tf.constant(grid_shape, tf.int32), message=message),
            tf.debugging.assert_greater_equal(values, 0, message=message),
            tf.debugging.assert_less(values, num_codes, message=message)]):
        return tf.identity(values)
