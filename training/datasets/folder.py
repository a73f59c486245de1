"""The ``dir:PATH`` source: a folder of image files, flat or one sub-folder per class."""

from __future__ import annotations

import os

import numpy as np

from training.datasets.spec import DatasetError, reraise

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

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


def _image_files(folder):
    names = sorted(
        n
        for n in os.listdir(folder)
        if not n.startswith(".")
        and n.lower().endswith(IMAGE_EXTENSIONS)
        and os.path.isfile(os.path.join(folder, n))
    )
    return [os.path.join(folder, n) for n in names]


def list_image_folder(root):
    """[(path, class_index or None)], class names (empty for a flat folder)."""
    if not os.path.exists(root):
        raise DatasetError(f"image folder not found: {root!r}")
    if not os.path.isdir(root):
        raise DatasetError(f"dir: spec must name a folder, but {root!r} is a file")
    flat = _image_files(root)
    subdirs = sorted(
        n
        for n in os.listdir(root)
        if not n.startswith(".") and os.path.isdir(os.path.join(root, n))
    )
    classes = [d for d in subdirs if _image_files(os.path.join(root, d))]
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
            for path in _image_files(os.path.join(root, name))
        ]
    else:
        entries = [(path, None) for path in flat]
    if not entries:
        raise DatasetError(
            f"no images ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)}) found in folder {root!r} "
            "or its immediate sub-folders"
        )
    return entries, classes


def _read_image(path, image_size):
    from PIL import Image

    unreadable = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
    with reraise(unreadable, f"cannot read image file {path!r}"):
        with Image.open(path) as img:
            img.load()  # decode now so truncated files fail here, with the file named
            arr = _pil_to_array(img, path)
    if image_size is not None and arr.shape[:2] != image_size:
        h, w = image_size
        arr = np.asarray(Image.fromarray(arr).resize((w, h), Image.Resampling.BILINEAR))
    return arr


def read_image_folder(root, image_size):
    """(uint8 images [N,H,W,C], int64 labels [N] or None, num_classes or None)."""
    entries, classes = list_image_folder(root)
    arrays, sizes = [], {}
    for path, _ in entries:
        arr = _read_image(path, image_size)
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
