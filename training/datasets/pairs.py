"""Image-to-image data: paired and unpaired specs, and tasks derived from any
image dataset.

Specs (A is the source domain, B the target):

``pairs:DIR``                   ``DIR/A/`` and ``DIR/B/`` hold partners of the same file name
``sidebyside:DIR``              each image is A and B side by side (the pix2pix format)
``unpaired:A,B``                two folders of images, or two dataset specs, not matched
``task:edges(SPEC)``            Sobel edge magnitude -> the image
``task:colorize(SPEC)``         luma -> the colour image (colour datasets only)
``task:superres(SPEC,factor=F)``  bicubic (antialiased) downsampling by F in {2, 4} -> the image
``task:inpaint(SPEC)``          the image with its centre H/2 x W/2 square zeroed -> the image
``task:classes(SPEC,LO-HI,LO-HI)``  unpaired: the images of two ranges of labels
``cycle_gan/NAME``              tensorflow-datasets' unpaired trainA/trainB, testA/testB
``div2k/CONFIG``                tensorflow-datasets' paired lr -> hr (centre crops: 96x96 hr,
                                SRGAN's size, or ``image_size``)

SPEC is any `training.datasets` spec (digits, npz:, dir:, a tfds name); a
task keeps SPEC's own train/test split. Folder specs are split 80/20 by the
seeded permutation `dir:` uses. Images are uint8 in storage and float32 in
[0, 1] in the streams; `load_pairs` yields ``(source, target)`` batches
(unpaired: an A batch and an independent B batch), optionally with seeded
jitter: the same random horizontal flip for both sides and, for
same-size pairs, the same random crop after reflect-padding by H/8
(Isola et al. 2017, sec. 6.2, scaled to small images).

A partner missing, a size or channel count that differs inside a side, or
an odd-width side-by-side image is a `DatasetError` naming the file, raised
before any batch is built.
"""

import dataclasses
import os
import re

import numpy as np
import tensorflow as tf

from training.datasets.folder import _read_image, list_image_folder
from training.datasets.memory import split_indices
from training.datasets.spec import DatasetError, check_int, check_seed, check_split

TASKS = ("edges", "colorize", "superres", "inpaint", "classes")
PREFIXES = ("pairs:", "sidebyside:", "unpaired:", "task:", "cycle_gan/", "div2k/")


@dataclasses.dataclass(frozen=True)
class PairInfo:
    """What a pair spec holds: shapes of A and B, paired or not, sizes."""

    name: str
    source_shape: tuple
    target_shape: tuple
    paired: bool
    num_examples: dict


def is_pair_spec(spec):
    return isinstance(spec, str) and spec.startswith(PREFIXES)


# ------------------------------------------------------------------ folders
def _read_side(folder, image_size):
    """{file name: uint8 [H, W, C]} of a flat folder, sizes and channels checked."""
    entries, classes = list_image_folder(folder)
    if classes:
        raise DatasetError(f"{folder!r} has sub-folders {classes[:3]}; a side of a pair "
                           "spec is a flat folder of images")
    images, first = {}, None
    for path, _ in entries:
        arr = _read_image(path, image_size)
        arr = arr[..., None] if arr.ndim == 2 else arr
        if first is None:
            first = (path, arr.shape)
        elif arr.shape != first[1]:
            raise DatasetError(f"{path!r} is {arr.shape[0]}x{arr.shape[1]}x{arr.shape[2]} but "
                               f"{os.path.basename(first[0])!r} is "
                               f"{'x'.join(map(str, first[1]))}; the images of a side must "
                               "share size and channels (or pass image_size)")
        images[os.path.basename(path)] = arr
    return images


def _split(arrays, split):
    idx = split_indices(len(arrays[0]), split, 0.2, 0)
    return tuple(a[idx] for a in arrays)


def _pairs_folder(root, split, image_size):
    sides = {}
    for side in ("A", "B"):
        folder = os.path.join(root, side)
        if not os.path.isdir(folder):
            raise DatasetError(f"pairs: spec needs {folder!r} (and {side == 'A' and 'B' or 'A'}/)"
                               " with partner images of the same file names")
        sides[side] = _read_side(folder, image_size)
    for side, other in (("A", "B"), ("B", "A")):
        missing = sorted(set(sides[side]) - set(sides[other]))
        if missing:
            raise DatasetError(f"{os.path.join(root, side, missing[0])!r} has no partner "
                               f"{os.path.join(root, other, missing[0])!r} ({len(missing)} "
                               "such files)")
    names = sorted(sides["A"])
    return _split((np.stack([sides["A"][n] for n in names]),
                   np.stack([sides["B"][n] for n in names])), split)


def _side_by_side(root, split, image_size):
    images = _read_side(root, None)
    a, b = [], []
    for name in sorted(images):
        arr = images[name]
        if arr.shape[1] % 2:
            raise DatasetError(f"{os.path.join(root, name)!r} is {arr.shape[1]} pixels wide; "
                               "a side-by-side pair needs an even width")
        half = arr.shape[1] // 2
        a.append(arr[:, :half])
        b.append(arr[:, half:])
    a, b = np.stack(a), np.stack(b)
    if image_size is not None:
        a, b = _resize(a, image_size), _resize(b, image_size)
    return _split((a, b), split)


def _unpaired_folders(arg, split, image_size, data_dir):
    """Two folders, or two datasets (each side any spec, with its own split)."""
    from training.datasets.api import load_arrays

    parts = arg.split(",")
    if len(parts) != 2 or not all(parts):
        raise DatasetError(f"unpaired: spec takes two folders or datasets, "
                           f"unpaired:DIR_A,DIR_B; got {arg!r}")
    sides = []
    for part in parts:
        if os.path.isdir(os.path.expanduser(part)):
            images = _read_side(os.path.expanduser(part), image_size)
            sides.append(_split((np.stack([images[n] for n in sorted(images)]),), split)[0])
        else:
            sides.append(load_arrays(part, split, image_size=image_size, data_dir=data_dir)[0])
    return tuple(sides)


def _resize(images, size):
    out = tf.image.resize(tf.cast(images, tf.float32), size, method="bilinear", antialias=True)
    return np.asarray(tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8))


# -------------------------------------------------------------------- tasks
_TASK = re.compile(r"^task:(\w+)\((.+)\)$")


def _task(spec, split, data_dir):
    from training.datasets.api import load_arrays

    match = _TASK.match(spec)
    if not match or match.group(1) not in TASKS:
        raise DatasetError(f"unknown task spec {spec!r}; use task:NAME(SPEC[,options]) with "
                           f"NAME one of {', '.join(TASKS)}")
    name, args = match.group(1), match.group(2).split(",")
    images, labels = load_arrays(args[0], split, data_dir=data_dir)
    x = images.astype(np.float32) / 255.0
    if name == "classes":
        ranges = [_label_range(r, spec) for r in args[1:]]
        if len(ranges) != 2 or labels is None:
            raise DatasetError(f"{spec!r}: task:classes(SPEC,LO-HI,LO-HI) needs a labelled "
                               "SPEC and two label ranges, e.g. task:classes(digits,0-4,5-9)")
        a, b = ((images[(labels >= lo) & (labels <= hi)]) for lo, hi in ranges)
        if not len(a) or not len(b):
            raise DatasetError(f"{spec!r}: a label range holds no {split} image")
        return a, b, False
    options = dict(o.split("=", 1) for o in args[1:] if "=" in o)
    if name == "edges":
        grey = tf.image.rgb_to_grayscale(x) if x.shape[-1] == 3 else x
        edges = tf.norm(tf.image.sobel_edges(tf.constant(grey)), axis=-1)
        peak = tf.reduce_max(edges, [1, 2, 3], keepdims=True)
        source = np.asarray(edges / tf.maximum(peak, 1e-6))
    elif name == "colorize":
        if x.shape[-1] != 3:
            raise DatasetError(f"{spec!r}: colorize needs colour images; {args[0]!r} has "
                               f"{x.shape[-1]} channel(s)")
        source = np.asarray(tf.image.rgb_to_grayscale(x))
    elif name == "superres":
        factor = int(options.get("factor", 2))
        if factor not in (2, 4) or x.shape[1] % factor or x.shape[2] % factor:
            raise DatasetError(f"{spec!r}: factor must be 2 or 4 and divide the image size "
                               f"{x.shape[1]}x{x.shape[2]}")
        source = np.asarray(tf.clip_by_value(tf.image.resize(
            x, (x.shape[1] // factor, x.shape[2] // factor), method="bicubic",
            antialias=True), 0.0, 1.0))
    else:  # inpaint
        h, w = x.shape[1:3]
        source = x.copy()
        source[:, h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2] = 0.0
    return (np.round(source * 255.0).astype(np.uint8), images, True)


def _label_range(text, spec):
    try:
        lo, hi = (int(v) for v in text.split("-"))
    except ValueError:
        raise DatasetError(f"{spec!r}: label range {text!r} is not LO-HI") from None
    return lo, hi


# --------------------------------------------------------------------- tfds
def _tfds_pairs(spec, split, image_size, data_dir):
    import tensorflow_datasets as tfds

    test = split == "test"
    try:
        if spec.startswith("cycle_gan/"):
            sides = [_tfds_images(tfds.as_numpy(tfds.load(
                spec, split=f"{'test' if test else 'train'}{s}", data_dir=data_dir)),
                spec, image_size) for s in ("A", "B")]
            return sides[0], sides[1], False
        ds = tfds.as_numpy(tfds.load(spec, split="validation" if test else "train",
                                     data_dir=data_dir))
        # SRGAN's 96x96 high-resolution crops unless image_size says otherwise.
        h, w = image_size or (96, 96)
        factor = int(re.search(r"x(\d)", spec).group(1)) if re.search(r"x(\d)", spec) else 4
        if h % factor or w % factor:
            raise DatasetError(f"{spec!r}: the {h}x{w} crop must be a multiple of x{factor}")
        lr, hr = [], []
        for example in ds:
            big, small = example["hr"], example["lr"]
            if big.shape[0] < h or big.shape[1] < w:
                raise DatasetError(f"{spec!r}: an image of {big.shape[:2]} is smaller than "
                                   f"the {h}x{w} crop")
            expected = (big.shape[0] // factor, big.shape[1] // factor)
            if small.shape[:2] != expected:  # rounding in the stored low resolution
                small = _resize(small[None], expected)[0]
            top = (big.shape[0] - h) // 2 // factor * factor
            left = (big.shape[1] - w) // 2 // factor * factor
            hr.append(big[top:top + h, left:left + w])
            lr.append(small[top // factor:(top + h) // factor,
                            left // factor:(left + w) // factor])
        return np.stack(lr), np.stack(hr), True
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - tfds raises many types when data is absent
        raise DatasetError(f"cannot load tensorflow-datasets {spec!r} (nothing is "
                           f"downloaded here; prepare it under --data-dir): "
                           f"{str(e).splitlines()[0][:300]}") from None


def _tfds_images(examples, spec, image_size):
    """uint8 [N, H, W, C] of a tfds split, resized to image_size when given."""
    images = [example["image"] for example in examples]
    if image_size is not None:
        return np.concatenate([_resize(i[None], image_size) for i in images])
    if len({i.shape for i in images}) > 1:
        raise DatasetError(f"{spec!r} has images of several sizes; pass image_size=(H, W)")
    return np.stack(images)


# ---------------------------------------------------------------------- API
def load_pair_arrays(spec, split="train", *, image_size=None, data_dir=None):
    """(A uint8 [N, ...], B uint8 [M, ...], paired) of one split (N == M when paired)."""
    split = check_split(split)
    if not is_pair_spec(spec):
        raise DatasetError(f"{spec!r} is not an image-to-image spec; use one of "
                           f"{', '.join(p.rstrip(':/') for p in PREFIXES)} (see "
                           "training/datasets/pairs.py)")
    kind, arg = spec.split(":", 1) if ":" in spec.split("/")[0] else (spec, "")
    if kind in ("pairs", "sidebyside", "unpaired") and not arg:
        raise DatasetError(f"dataset spec {spec!r} is missing the folder after '{kind}:'")
    if kind == "pairs":
        a, b = _pairs_folder(os.path.expanduser(arg), split, image_size)
        return a, b, True
    if kind == "sidebyside":
        a, b = _side_by_side(os.path.expanduser(arg), split, image_size)
        return a, b, True
    if kind == "unpaired":
        a, b = _unpaired_folders(arg, split, image_size, data_dir)
        return a, b, False
    if kind == "task":
        return _task(spec, split, data_dir)
    return _tfds_pairs(spec, split, image_size, data_dir)


def pair_info(spec, *, image_size=None, data_dir=None):
    """A `PairInfo` (the train split is read to learn the shapes)."""
    a, b, paired = load_pair_arrays(spec, "train", image_size=image_size, data_dir=data_dir)
    test_a, test_b, _ = load_pair_arrays(spec, "test", image_size=image_size,
                                         data_dir=data_dir)
    return PairInfo(spec, tuple(int(d) for d in a.shape[1:]),
                    tuple(int(d) for d in b.shape[1:]), paired,
                    {"train": int(max(len(a), len(b))), "test": int(max(len(test_a),
                                                                        len(test_b)))})


def _jitter(a, b, key, same_size):
    """The same seeded flip (and, for same-size pairs, crop) for both sides."""
    flip = tf.random.stateless_uniform([], key) < 0.5
    a = tf.where(flip, tf.reverse(a, [1]), a)
    b = tf.where(flip, tf.reverse(b, [1]), b)
    if not same_size:
        return a, b
    h, w = a.shape[0], a.shape[1]
    pad = max(1, h // 8)
    both = tf.pad(tf.concat([a, b], -1), [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    offset = tf.random.stateless_uniform([2], key + 1, 0, 2 * pad + 1, tf.int32)
    both = tf.slice(both, [offset[0], offset[1], 0], [h, w, -1])
    return both[..., :a.shape[-1]], both[..., a.shape[-1]:]


def load_pairs(spec, split="train", *, batch_size=64, seed=0, shuffle=None, jitter=False,
               drop_remainder=False, repeat=False, take=None, image_size=None, data_dir=None):
    """Batches (source float32 [B, ...], target float32 [B, ...]) in [0, 1].

    Paired specs keep partners together; unpaired ones zip an A stream with
    an independently shuffled B stream (the shorter side repeats; an epoch
    is one pass over the longer side).

    Args:
      spec: a pair spec (module docstring).
      split: "train" or "test".
      batch_size: rows per batch.
      seed: shuffle order and jitter.
      shuffle: default True for "train".
      jitter: seeded flip (+ crop) of both sides, for training.
      drop_remainder, repeat, take: as in `load`.
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    seed = check_seed("seed", seed)
    shuffle = split == "train" if shuffle is None else shuffle
    a, b, paired = load_pair_arrays(spec, split, image_size=image_size, data_dir=data_dir)
    if take is not None:
        a, b = a[:take], b[:take]
    if not len(a) or not len(b):
        raise DatasetError(f"split {split!r} of {spec!r} is empty")
    same_size = a.shape[1:3] == b.shape[1:3]

    def stream(arrays, stream_seed, count):
        ds = tf.data.Dataset.from_tensor_slices(arrays)
        if shuffle:
            ds = ds.shuffle(len(arrays[0]), seed=stream_seed, reshuffle_each_iteration=True)
        return ds.repeat().take(count) if count > len(arrays[0]) else ds

    if paired:
        ds = stream((a, b), seed, len(a))
    else:
        n = max(len(a), len(b))
        ds = tf.data.Dataset.zip(stream((a,), seed, n), stream((b,), seed + 1, n)).map(
            lambda x, y: (x[0], y[0]))
    if repeat:
        ds = ds.repeat()
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, tf.cast(y, tf.float32) / 255.0))
    if jitter:
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(
            lambda r: tf.stack([tf.cast(r, tf.int32), tf.constant(seed % 2**31, tf.int32)]))
        ds = tf.data.Dataset.zip(ds, keys).map(
            lambda pair, key: _jitter(pair[0], pair[1], key, same_size),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


__all__ = ["PairInfo", "TASKS", "is_pair_spec", "load_pair_arrays", "load_pairs", "pair_info"]
