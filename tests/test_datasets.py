"""Tests for the training.datasets package: spec parsing, sources, splits and modes.

Everything runs offline: digits ships with scikit-learn, npz/dir data is
written to tmp_path, and tensorflow-datasets is exercised through
``tfds.testing.mock_data`` (random examples that follow the feature spec).
"""

import os
import zipfile
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from training import datasets as D
from training.datasets import DatasetError

DIGITS_N = 1797


def _epoch(ds):
    """Concatenate every batch of one pass over ds into NumPy arrays."""
    parts = list(ds.as_numpy_iterator())
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts))
    return np.concatenate(parts)


def _row_counts(images):
    """Multiset of images, to compare splits regardless of order."""
    rows, counts = np.unique(images.reshape(len(images), -1), axis=0, return_counts=True)
    return {r.tobytes(): c for r, c in zip(rows, counts)}


def _sorted_rows(images):
    flat = images.reshape(len(images), -1)
    return flat[np.lexsort(flat.T[::-1])]


# ---------------------------------------------------------------- digits


def test_digits_info():
    meta = D.info("digits")
    assert meta == D.DatasetInfo(
        name="digits", image_shape=(8, 8, 1), num_classes=10,
        num_examples={"train": 1438, "test": 359},
    )
    assert D.info("digits", image_size=(12, 10)).image_shape == (12, 10, 1)


def test_digits_raw_arrays_follow_the_documented_scaling():
    from sklearn.datasets import load_digits

    images, labels = D.load_arrays("digits", split="all")
    bunch = load_digits()
    assert images.shape == (DIGITS_N, 8, 8, 1) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.shape == (DIGITS_N,)
    np.testing.assert_array_equal(images[..., 0], np.round(bunch.images * 255 / 16))
    np.testing.assert_array_equal(labels, bunch.target)
    assert images.max() == 255 and images.min() == 0


def test_digits_split_partitions_and_is_deterministic():
    train_x, train_y = D.load_arrays("digits", "train")
    test_x, test_y = D.load_arrays("digits", "test")
    all_x, _ = D.load_arrays("digits", "all")
    assert len(train_x) + len(test_x) == DIGITS_N
    assert len(test_x) == round(0.2 * DIGITS_N)
    # Multiset union of the two splits is exactly the whole dataset.
    union = _row_counts(train_x)
    for key, count in _row_counts(test_x).items():
        union[key] = union.get(key, 0) + count
    assert union == _row_counts(all_x)
    again_x, again_y = D.load_arrays("digits", "train")
    np.testing.assert_array_equal(train_x, again_x)
    np.testing.assert_array_equal(train_y, again_y)
    other_x, _ = D.load_arrays("digits", "train", seed=1)
    assert not np.array_equal(train_x, other_x)
    assert set(np.unique(train_y)) == set(range(10))
    assert set(np.unique(test_y)) <= set(range(10))


def test_digits_test_fraction():
    x, _ = D.load_arrays("digits", "test", test_fraction=0.5)
    assert len(x) == round(0.5 * DIGITS_N)
    assert D.info("digits", test_fraction=0.5).num_examples == {"train": 899, "test": 898}


@pytest.mark.parametrize(
    "mode, dtype, low, high",
    [
        ("unit", tf.float32, 0.0, 1.0),
        ("symmetric", tf.float32, -1.0, 1.0),
        ("binary_static", tf.float32, 0.0, 1.0),
        ("binary_dynamic", tf.float32, 0.0, 1.0),
        ("levels", tf.int32, 0, 255),
    ],
)
def test_digits_modes_shapes_dtypes_ranges(mode, dtype, low, high):
    ds = D.load("digits", batch_size=32, mode=mode, labels=True)
    images, labels = next(iter(ds))
    assert images.shape == (32, 8, 8, 1)
    assert images.dtype == dtype
    assert labels.dtype == tf.int64 and labels.shape == (32,)
    arr = images.numpy()
    assert arr.min() >= low and arr.max() <= high
    if mode.startswith("binary"):
        assert set(np.unique(arr)) <= {0.0, 1.0}
    # The extremes are reached: digits have both blank and saturated pixels.
    full = _epoch(D.load("digits", batch_size=512, mode=mode))
    assert full.min() == low and full.max() == high


def test_unit_and_symmetric_match_raw_arrays():
    raw, raw_y = D.load_arrays("digits", "test")
    unit, y = _epoch(D.load("digits", "test", batch_size=100, labels=True))
    np.testing.assert_allclose(unit, raw / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y, raw_y)
    sym = _epoch(D.load("digits", "test", batch_size=100, mode="symmetric"))
    np.testing.assert_allclose(sym, raw / 127.5 - 1.0, atol=1e-6)


def test_labels_cover_a_whole_epoch():
    images, labels = _epoch(D.load("digits", batch_size=100, labels=True))
    assert images.shape == (1438, 8, 8, 1)
    assert labels.shape == (1438,)
    assert labels.min() >= 0 and labels.max() <= 9


def test_shuffle_reshuffles_each_epoch_and_is_seeded():
    ds = D.load("digits", batch_size=2000)  # shuffle defaults to True for train
    first, second = _epoch(ds), _epoch(ds)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(_sorted_rows(first), _sorted_rows(second))
    replay = D.load("digits", batch_size=2000)
    np.testing.assert_array_equal(first, _epoch(replay))
    other = _epoch(D.load("digits", batch_size=2000, seed=3))
    assert not np.array_equal(first[:50], other[:50])
    # Test split is not shuffled by default.
    raw, _ = D.load_arrays("digits", "test")
    np.testing.assert_allclose(_epoch(D.load("digits", "test")), raw / 255.0)


def test_batching_take_drop_remainder_and_repeat():
    sizes = [b.shape[0] for b in D.load("digits", batch_size=100, take=250)]
    assert sizes == [100, 100, 50]
    sizes = [b.shape[0] for b in D.load("digits", batch_size=100, take=250, drop_remainder=True)]
    assert sizes == [100, 100]
    raw, _ = D.load_arrays("digits")
    first = _epoch(D.load("digits", batch_size=7, take=7, shuffle=False))
    np.testing.assert_allclose(first, raw[:7] / 255.0)
    endless = D.load("digits", batch_size=4, take=6, repeat=True, shuffle=False)
    batches = [b.numpy() for b in endless.take(5)]
    assert [len(b) for b in batches] == [4, 4, 4, 4, 4]  # repeat crosses epochs
    np.testing.assert_allclose(np.concatenate(batches)[6:12], raw[:6] / 255.0)


def test_image_size_resizes_digits():
    images = next(iter(D.load("digits", batch_size=5, image_size=(16, 12), mode="levels")))
    assert images.shape == (5, 16, 12, 1)
    raw, _ = D.load_arrays("digits", image_size=(16, 12))
    assert raw.shape[1:] == (16, 12, 1) and raw.dtype == np.uint8


# ---------------------------------------------------------------- binarization


def test_binary_static_is_fixed_across_epochs_and_calls():
    ds = D.load("digits", batch_size=500, mode="binary_static", shuffle=False)
    first, second = _epoch(ds), _epoch(ds)
    assert set(np.unique(first)) == {0.0, 1.0}
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(
        first, _epoch(D.load("digits", batch_size=64, mode="binary_static", shuffle=False))
    )
    # Keyed on the example, not its position: shuffling only reorders.
    shuffled = _epoch(D.load("digits", batch_size=500, mode="binary_static", shuffle=True))
    np.testing.assert_array_equal(_sorted_rows(first), _sorted_rows(shuffled))
    other = _epoch(D.load("digits", batch_size=500, mode="binary_static", shuffle=False, seed=5))
    assert not np.array_equal(first, other)
    raw, _ = D.load_arrays("digits")
    assert abs(first.mean() - raw.mean() / 255.0) < 0.01


def test_binary_dynamic_resamples_each_epoch_but_replays_with_seed():
    ds = D.load("digits", batch_size=500, mode="binary_dynamic", shuffle=False)
    first, second = _epoch(ds), _epoch(ds)
    assert set(np.unique(first)) == {0.0, 1.0}
    assert not np.array_equal(first, second)
    raw, _ = D.load_arrays("digits")
    assert abs(first.mean() - raw.mean() / 255.0) < 0.01
    # Pixels that are 0 or 255 are deterministic, the rest are resampled.
    np.testing.assert_array_equal(first[raw == 0], 0.0)
    np.testing.assert_array_equal(first[raw == 255], 1.0)
    replay = D.load("digits", batch_size=500, mode="binary_dynamic", shuffle=False)
    np.testing.assert_array_equal(first, _epoch(replay))
    np.testing.assert_array_equal(second, _epoch(replay))
    # Same for a shuffled, repeated stream: epochs differ, calls agree.
    def stream():
        ds = D.load("digits", batch_size=719, mode="binary_dynamic", repeat=True)
        return np.concatenate([b.numpy() for b in ds.take(4)])
    a, b = stream(), stream()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(_sorted_rows(a[:1438]), _sorted_rows(a[1438:]))


@pytest.mark.parametrize("mode", ["binary_static", "binary_dynamic"])
@pytest.mark.parametrize("batch_size", [1, 40])
def test_binarization_noise_differs_between_examples(tmp_path, mode, batch_size):
    # Identical mid-grey images: any two equal binarizations would mean the
    # noise is shared between examples (or between batches).
    spec = _write_npz(tmp_path / "grey.npz", x=np.full((40, 6, 6), 128, np.uint8))
    out = _epoch(D.load(spec, "all", mode=mode, batch_size=batch_size, shuffle=False))
    assert len(_row_counts(out)) == 40
    assert abs(out.mean() - 128 / 255) < 0.05


@pytest.mark.parametrize("num_levels", [2, 4, 16, 256])
def test_levels_match_the_rounding_formula(num_levels):
    raw, _ = D.load_arrays("digits", "test")
    out = _epoch(D.load("digits", "test", batch_size=128, mode="levels", num_levels=num_levels))
    assert out.dtype == np.int32
    # Integer form of round(v / 255 * (L - 1)); v * (L - 1) / 255 is never a
    # half-integer (255 is odd), so there are no ties to break.
    expected = (2 * raw.astype(np.int64) * (num_levels - 1) + 255) // 510
    np.testing.assert_array_equal(out, expected)
    assert out.max() == num_levels - 1 and out.min() == 0


@pytest.mark.parametrize("num_levels", [2, 4, 16, 256])
def test_levels_equal_the_models_quantization_of_unit_images(tmp_path, num_levels):
    import zoo

    model = zoo.get("pixelcnn", image_shape=(8, 8, 1), num_levels=num_levels, filters=4,
                    num_layers=1)
    # Every uint8 value once (it crosses every bin edge of every L), then real digits.
    ramp = _write_npz(tmp_path / "ramp.npz", x=np.arange(256, dtype=np.uint8).reshape(4, 8, 8))
    for spec, split in ((ramp, "all"), ("digits", "test")):
        levels = _epoch(D.load(spec, split, batch_size=512, mode="levels", num_levels=num_levels))
        unit = _epoch(D.load(spec, split, batch_size=512, mode="unit"))
        np.testing.assert_array_equal(levels, model.to_levels(tf.constant(unit)).numpy())


@pytest.mark.parametrize("num_levels", [1, 0, 257, 2.0])
def test_levels_rejects_bad_num_levels(num_levels):
    with pytest.raises(DatasetError, match="num_levels"):
        D.load("digits", mode="levels", num_levels=num_levels)


# ---------------------------------------------------------------- npz


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_rank3_without_labels(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(30, 5, 7), dtype=np.uint8)
    spec = _write_npz(tmp_path / "a.npz", x=x)
    meta = D.info(spec)
    assert meta.image_shape == (5, 7, 1) and meta.num_classes is None
    assert meta.num_examples == {"train": 24, "test": 6}
    images, labels = D.load_arrays(spec, "all")
    assert labels is None
    np.testing.assert_array_equal(images[..., 0], x)
    batch = next(iter(D.load(spec, batch_size=8)))
    assert batch.shape == (8, 5, 7, 1)
    with pytest.raises(DatasetError, match="has no labels"):
        D.load(spec, labels=True)


def test_npz_rgb_with_labels_and_strictly_disjoint_split(tmp_path):
    n = 50
    x = np.random.default_rng(1).integers(0, 256, size=(n, 4, 4, 3), dtype=np.uint8)
    y = np.arange(n) % 7
    spec = _write_npz(tmp_path / "rgb.npz", x=x, y=y)
    meta = D.info(spec)
    assert meta.image_shape == (4, 4, 3) and meta.num_classes == 7
    # Use unique ids as labels to check the split membership exactly.
    id_spec = _write_npz(tmp_path / "ids.npz", x=x, y=np.arange(n))
    _, train_ids = D.load_arrays(id_spec, "train", test_fraction=0.3, seed=4)
    _, test_ids = D.load_arrays(id_spec, "test", test_fraction=0.3, seed=4)
    assert len(test_ids) == 15 and len(train_ids) == 35
    assert not set(train_ids) & set(test_ids)
    assert sorted(set(train_ids) | set(test_ids)) == list(range(n))
    images, labels = next(iter(D.load(spec, "test", labels=True, batch_size=100)))
    assert images.shape == (10, 4, 4, 3) and labels.dtype == tf.int64
    raw_x, raw_y = D.load_arrays(spec, "test")
    np.testing.assert_array_equal(labels.numpy(), raw_y)
    np.testing.assert_allclose(images.numpy(), raw_x / 255.0)


def test_npz_float_unit_range_is_scaled(tmp_path):
    x = np.linspace(0.0, 1.0, 10 * 3 * 3).reshape(10, 3, 3).astype(np.float32)
    spec = _write_npz(tmp_path / "f.npz", x=x, y=np.zeros(10, np.int32))
    images, labels = D.load_arrays(spec, "all")
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(images[..., 0], np.round(x * 255))
    assert images.max() == 255 and images.min() == 0


def _npz_error_cases(tmp_path):
    ok = np.zeros((4, 3, 3), np.uint8)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"this is not a zip archive")
    truncated = tmp_path / "truncated.npz"
    np.savez(truncated, x=np.zeros((100, 8, 8), np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:200])
    npy = tmp_path / "plain.npy"
    np.save(npy, ok)
    return {
        "missing": (tmp_path / "nope.npz", "not found"),
        "corrupt": (corrupt, "not a valid .npz"),
        "truncated": (truncated, "corrupt|not a valid .npz|truncated"),
        "npy": (npy, r"\.npy"),
        "no_x": (_save(tmp_path / "nox.npz", images=ok), r"no array 'x'.*images"),
        "rank2": (_save(tmp_path / "r2.npz", x=np.zeros((5, 4), np.uint8)), r"\(5, 4\)"),
        "rank5": (_save(tmp_path / "r5.npz", x=np.zeros((2, 3, 3, 1, 1), np.uint8)), r"\(2, 3, 3, 1, 1\)"),
        "channels": (_save(tmp_path / "c2.npz", x=np.zeros((2, 3, 3, 2), np.uint8)), r"\(2, 3, 3, 2\).*C in"),
        "empty": (_save(tmp_path / "empty.npz", x=np.zeros((0, 3, 3), np.uint8)), "empty"),
        "y_length": (_save(tmp_path / "ylen.npz", x=ok, y=np.arange(3)), "length 3.*4 images"),
        "y_float": (_save(tmp_path / "yf.npz", x=ok, y=np.zeros(4)), "integer"),
        "float_range": (_save(tmp_path / "fr.npz", x=np.full((2, 3, 3), 2.0)), r"\[0, 1\].*max 2"),
        "int_dtype": (_save(tmp_path / "i32.npz", x=ok.astype(np.int32)), "int32.*uint8"),
    }


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "case",
    ["missing", "corrupt", "truncated", "npy", "no_x", "rank2", "rank5", "channels",
     "empty", "y_length", "y_float", "float_range", "int_dtype"],
)
def test_npz_errors_name_the_problem(tmp_path, case):
    path, pattern = _npz_error_cases(tmp_path)[case]
    with pytest.raises(DatasetError, match=pattern) as err:
        D.load(f"npz:{path}")
    assert str(path) in str(err.value)
    with pytest.raises(DatasetError):
        D.info(f"npz:{path}")


def test_npz_corrupt_error_is_not_a_raw_zip_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DatasetError) as err:
        D.load_arrays(f"npz:{bad}")
    assert not isinstance(err.value, zipfile.BadZipFile)
    assert isinstance(err.value, ValueError)


# ---------------------------------------------------------------- dir


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_dir_flat_greyscale(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, size=(6, 5), dtype=np.uint8) for _ in range(10)]
    for i, a in enumerate(arrays):
        _png(tmp_path / "imgs" / f"img{i:02d}.png", a)
    (tmp_path / "imgs" / "notes.txt").write_text("not an image, ignored")
    spec = f"dir:{tmp_path / 'imgs'}"
    meta = D.info(spec)
    assert meta.image_shape == (6, 5, 1) and meta.num_classes is None
    images, labels = D.load_arrays(spec, "all")
    assert labels is None
    np.testing.assert_array_equal(images[..., 0], np.stack(arrays))  # sorted file order
    batch = next(iter(D.load(spec, batch_size=4, mode="levels", num_levels=2)))
    assert batch.shape == (4, 6, 5, 1) and batch.dtype == tf.int32
    with pytest.raises(DatasetError, match="no labels"):
        D.load(spec, labels=True)


def test_dir_class_subfolders_rgb(tmp_path):
    rng = np.random.default_rng(1)
    classes = {"cat": 3, "ant": 2, "dog": 4}
    for name, count in classes.items():
        for i in range(count):
            _png(tmp_path / "d" / name / f"{i}.png",
                 rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8))
    spec = f"dir:{tmp_path / 'd'}"
    meta = D.info(spec)
    assert meta.image_shape == (4, 4, 3) and meta.num_classes == 3
    images, labels = D.load_arrays(spec, "all")
    # Class index follows sorted folder names: ant=0, cat=1, dog=2.
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1, 2, 2, 2, 2])
    first_cat = np.asarray(Image.open(tmp_path / "d" / "cat" / "0.png"))
    np.testing.assert_array_equal(images[2], first_cat)
    x, y = _epoch(D.load(spec, "all", labels=True, batch_size=4))
    assert x.shape == (9, 4, 4, 3) and sorted(y.tolist()) == labels.tolist()


def test_dir_mixed_grey_rgb_rgba_becomes_rgb(tmp_path):
    grey = np.full((3, 3), 77, np.uint8)
    _png(tmp_path / "m" / "a.png", grey)
    _png(tmp_path / "m" / "b.png", np.full((3, 3, 3), 200, np.uint8))
    _png(tmp_path / "m" / "c.png", np.full((3, 3, 4), 10, np.uint8))  # RGBA
    images, _ = D.load_arrays(f"dir:{tmp_path / 'm'}", "all")
    assert images.shape == (3, 3, 3, 3)
    np.testing.assert_array_equal(images[0], 77)
    np.testing.assert_array_equal(images[2], 10)


def test_dir_mixed_sizes_need_image_size(tmp_path):
    _png(tmp_path / "s" / "small.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "s" / "large.png", np.full((8, 6), 255, np.uint8))
    spec = f"dir:{tmp_path / 's'}"
    with pytest.raises(DatasetError, match=r"different sizes.*image_size"):
        D.load(spec)
    images, _ = D.load_arrays(spec, "all", image_size=(5, 7))
    assert images.shape == (2, 5, 7, 1)
    np.testing.assert_array_equal(images[0], 255)  # large.png sorts first
    assert D.info(spec, image_size=(5, 7)).image_shape == (5, 7, 1)


def test_dir_unreadable_file_is_named(tmp_path):
    _png(tmp_path / "u" / "good.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "u" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match="broken.png"):
        D.load(f"dir:{tmp_path / 'u'}")


def test_dir_missing_empty_and_ambiguous(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        D.load(f"dir:{tmp_path / 'absent'}")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no images")
    with pytest.raises(DatasetError, match="no images"):
        D.load(f"dir:{tmp_path / 'empty'}")
    _png(tmp_path / "amb" / "top.png", np.zeros((2, 2), np.uint8))
    _png(tmp_path / "amb" / "cls" / "x.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DatasetError, match="top.png"):
        D.load(f"dir:{tmp_path / 'amb'}")


# ---------------------------------------------------------------- tfds (mocked)


def test_tfds_mnist_with_labels():
    with tfds.testing.mock_data(num_examples=20):
        meta = D.info("mnist")
        assert meta.image_shape == (28, 28, 1) and meta.num_classes == 10
        images, labels = next(iter(D.load("tfds:mnist", batch_size=8, labels=True)))
        assert images.shape == (8, 28, 28, 1) and images.dtype == tf.float32
        assert labels.shape == (8,) and labels.dtype == tf.int64
        assert 0 <= labels.numpy().min() and labels.numpy().max() <= 9
        assert 0.0 <= images.numpy().min() and images.numpy().max() <= 1.0
        raw_x, raw_y = D.load_arrays("mnist", "test")
        assert raw_x.shape == (20, 28, 28, 1) and raw_x.dtype == np.uint8
        assert raw_y.shape == (20,) and raw_y.dtype == np.int64
        # The stream is the same data as the materialized arrays.
        unit = _epoch(D.load("mnist", "test", batch_size=6))
        np.testing.assert_allclose(unit, raw_x / 255.0)


def test_tfds_cifar10_modes_and_static_binarization():
    with tfds.testing.mock_data(num_examples=12):
        assert D.info("cifar10").image_shape == (32, 32, 3)
        levels = _epoch(D.load("cifar10", batch_size=5, mode="levels", num_levels=8))
        assert levels.shape == (12, 32, 32, 3) and levels.dtype == np.int32
        assert levels.max() <= 7
        ds = D.load("cifar10", batch_size=5, mode="binary_static", shuffle=False)
        first = _epoch(ds)
        np.testing.assert_array_equal(first, _epoch(ds))
        assert set(np.unique(first)) == {0.0, 1.0}


def test_tfds_binarized_mnist_scales_ones_to_255():
    # mock_data draws integers from [0, max_value), so max_value=2 gives {0, 1}.
    with tfds.testing.mock_data(num_examples=6, max_value=2):
        meta = D.info("binarized_mnist")
        assert meta.num_classes is None and meta.image_shape == (28, 28, 1)
        images, labels = D.load_arrays("binarized_mnist", "test")
        assert labels is None
        assert set(np.unique(images)) == {0, 255}
        unit = _epoch(D.load("binarized_mnist", "test", batch_size=4))
        assert set(np.unique(unit)) == {0.0, 1.0}
        with pytest.raises(DatasetError, match="has no labels"):
            D.load("binarized_mnist", labels=True)


def test_tfds_test_split_falls_back_to_validation(tmp_path):
    # Metadata with only train/validation splits, served through mock_data.
    builder = tfds.builder("binarized_mnist", data_dir=str(tmp_path))
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name="train", shard_lengths=[7], num_bytes=0),
        tfds.core.SplitInfo(name="validation", shard_lengths=[5], num_bytes=0),
    ]))
    os.makedirs(builder.data_dir)
    builder.info.write_to_directory(builder.data_dir)
    with tfds.testing.mock_data(num_examples=5, max_value=2, data_dir=str(tmp_path),
                                policy=tfds.testing.MockPolicy.USE_FILES):
        meta = D.info("binarized_mnist")
        assert meta.num_examples == {"train": 7, "test": 5}
        requested = []
        original = tfds.core.DatasetBuilder.as_dataset

        def spy(self, *args, **kwargs):
            requested.append(kwargs.get("split"))
            return original(self, *args, **kwargs)

        with mock.patch.object(tfds.core.DatasetBuilder, "as_dataset", spy):
            next(iter(D.load("binarized_mnist", "test", batch_size=2)))
            next(iter(D.load("binarized_mnist", "train", batch_size=2)))
        assert requested == ["validation", "train"]


def test_tfds_celeb_a_streams_resized_without_labels():
    with tfds.testing.mock_data(num_examples=5):
        meta = D.info("celeb_a", image_size=(16, 16))
        assert meta.image_shape == (16, 16, 3) and meta.num_classes is None
        batches = list(D.load("celeb_a", batch_size=2, image_size=(16, 16), take=3,
                              mode="symmetric"))
        assert [tuple(b.shape) for b in batches] == [(2, 16, 16, 3), (1, 16, 16, 3)]
        values = np.concatenate([b.numpy() for b in batches])
        assert values.min() >= -1.0 and values.max() <= 1.0
        with pytest.raises(DatasetError, match="no labels"):
            D.load("celeb_a", labels=True, image_size=(16, 16))


def test_tfds_unknown_name_fails_fast_with_suggestion():
    # Failing before any builder is constructed guarantees no download attempt.
    with mock.patch.object(tfds, "builder", side_effect=AssertionError("builder touched")):
        with pytest.raises(DatasetError) as err:
            D.load("mnsit")
        message = str(err.value)
        assert "'mnist'" in message and "digits" in message and "npz:PATH" in message
        with pytest.raises(DatasetError, match="no_such_dataset_xyz"):
            D.info("tfds:no_such_dataset_xyz")


def test_tfds_builder_failure_is_wrapped():
    with mock.patch.object(tfds, "builder", side_effect=RuntimeError("bad metadata")):
        with pytest.raises(DatasetError, match=r"builder for 'mnist'.*RuntimeError: bad metadata"):
            D.info("mnist")


def test_tfds_download_failure_is_wrapped(tmp_path):
    # Simulates an offline machine without touching the network for real.
    def offline(self, *args, **kwargs):
        raise ConnectionError("network is unreachable")

    with mock.patch.object(tfds.core.DatasetBuilder, "download_and_prepare", offline):
        with pytest.raises(DatasetError, match=r"'mnist'.*no network.*data_dir") as err:
            D.load("mnist", data_dir=str(tmp_path))
    assert "network is unreachable" in str(err.value)
    with pytest.raises(DatasetError, match="does-not-exist"):
        D.load("mnist", data_dir=str(tmp_path / "does-not-exist"))


# ---------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"mode": "bernoulli"}, r"bernoulli.*binary_static"),
        ({"split": "validation"}, r"validation.*'train', 'test', 'all'"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -3}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"image_size": (8,)}, "image_size"),
        ({"image_size": (0, 8)}, "image_size"),
        ({"take": 0}, "take"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(DatasetError, match=pattern):
        D.load("digits", **kwargs)


@pytest.mark.parametrize("spec", ["", None, 3, "npz:", "dir:", "tfds:"])
def test_bad_specs(spec):
    with pytest.raises(DatasetError):
        D.load(spec)


def test_labels_true_without_labels_names_dataset(tmp_path):
    spec = _write_npz(tmp_path / "nolab.npz", x=np.zeros((5, 2, 2), np.uint8))
    with pytest.raises(DatasetError, match=r"dataset 'npz:.*nolab.npz' has no labels"):
        D.load(spec, labels=True)


def test_dataset_error_is_value_error_and_info_is_frozen():
    assert issubclass(DatasetError, ValueError)
    meta = D.info("digits")
    with pytest.raises(Exception):
        meta.name = "other"
    assert D.MODES == ("unit", "symmetric", "binary_static", "binary_dynamic", "levels")


def test_split_seed_is_independent_of_the_shuffle_seed():
    a = np.concatenate(list(D.load("digits", "test", batch_size=500, seed=1).as_numpy_iterator()))
    b = np.concatenate(list(D.load("digits", "test", batch_size=500, seed=2).as_numpy_iterator()))
    np.testing.assert_array_equal(a, b)
    c = np.concatenate(list(D.load("digits", "test", batch_size=500, split_seed=3)
                            .as_numpy_iterator()))
    assert not np.array_equal(a, c)


def test_the_package_exports_what_callers_import():
    # trainer, evaluate, classifier, bench/ and the tests use these names.
    expected = {"load", "info", "load_arrays", "DatasetError", "DatasetInfo", "MODES", "SPLITS"}
    assert expected <= set(D.__all__)
    assert all(getattr(D, name) is not None for name in D.__all__)
