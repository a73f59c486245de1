"""2-D toy densities (``toy:NAME[:N[:SEED]]``) as 1x1 images with 2 channels.

Flows and GANs are demonstrated and debugged on them. Each generator draws
points in its usual coordinates, maps them into the unit square by a fixed
affine map (so every model's [0, 1] data contract holds) and rejects the
rare draw that falls outside; points are then stored as 8-bit values like
every other source, so a flow's uniform dequantization makes them
continuous again and its bits/dim mean the same as on images.

Labels are the mixture component where there is one: the moon (2), the
Gaussian (8) or the ring (4); the checkerboard has none.
"""

from __future__ import annotations

import numpy as np

from training.datasets.spec import DatasetError

DEFAULT_SIZE = 10000
MAX_SIZE = 10_000_000


def _two_moons(rng, n):
    label = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(label == 0, np.cos(t), 1.0 - np.cos(t))
    y = np.where(label == 0, np.sin(t), 0.5 - np.sin(t))
    p = np.stack([x, y], 1) + rng.normal(0.0, 0.08, (n, 2))
    return (p - [0.5, 0.25]) / 3.2 + 0.5, label


def _eight_gaussians(rng, n):
    label = rng.integers(0, 8, n)
    angle = label * np.pi / 4
    p = 2.0 * np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0.0, 0.2, (n, 2))
    return p / 6.0 + 0.5, label


def _checkerboard(rng, n):
    x = rng.uniform(-2.0, 2.0, n)
    y = rng.uniform(0.0, 1.0, n) - 2.0 * rng.integers(0, 2, n) + np.floor(x) % 2
    return np.stack([x, y], 1) / 4.4 + 0.5, None


def _rings(rng, n):
    label = rng.integers(0, 4, n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    radius = 0.5 * (label + 1) + rng.normal(0.0, 0.06, n)
    p = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return p / 5.0 + 0.5, label


GENERATORS = {"two_moons": (_two_moons, 2), "8gaussians": (_eight_gaussians, 8),
              "checkerboard": (_checkerboard, None), "rings": (_rings, 4)}


def parse_toy(arg):
    """'NAME[:N[:SEED]]' -> (name, n, seed), or DatasetError."""
    parts = arg.split(":")
    name = parts[0]
    if name not in GENERATORS or len(parts) > 3:
        raise DatasetError(f"unknown toy dataset {arg!r}; use toy:NAME[:N[:SEED]] with NAME "
                           f"one of {', '.join(GENERATORS)}")
    values = []
    for what, text, low, high in (("N", parts[1] if len(parts) > 1 else None, 2, MAX_SIZE),
                                  ("SEED", parts[2] if len(parts) > 2 else None, 0, 2**32 - 1)):
        if text is None:
            values.append(None)
            continue
        if not text.isdigit() or not low <= int(text) <= high:
            raise DatasetError(f"toy dataset {arg!r}: {what} must be an integer in "
                               f"[{low}, {high}], got {text!r}")
        values.append(int(text))
    n, seed = values
    return name, DEFAULT_SIZE if n is None else n, 0 if seed is None else seed


def toy_points(arg):
    """(uint8 points [N, 1, 1, 2], int64 labels [N] or None, num_classes or None)."""
    name, n, seed = parse_toy(arg)
    generate, num_classes = GENERATORS[name]
    rng = np.random.default_rng(seed)
    points, labels, have = [], [], 0
    while have < n:
        p, label = generate(rng, 2 * (n - have) + 16)
        inside = np.all((p >= 0.0) & (p <= 1.0), axis=1)
        points.append(p[inside])
        labels.append(None if label is None else label[inside])
        have += int(inside.sum())
    p = np.concatenate(points)[:n]
    images = np.round(p * 255).astype(np.uint8).reshape(n, 1, 1, 2)
    if num_classes is None:
        return images, None, None
    return images, np.concatenate(labels)[:n].astype(np.int64), num_classes
