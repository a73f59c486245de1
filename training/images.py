"""Image grids as PNG files and TensorBoard image summaries."""

import math
import os

import numpy as np
from PIL import Image


def make_grid(images, num_cols=None, padding=1):
    """Tiles images [N, H, W, C] in [0, 1] into one uint8 array.

    Args:
      images: array-like [N, H, W, C] with C in {1, 3}, values in [0, 1].
      num_cols: images per row; default ceil(sqrt(N)).
      padding: pixels of black between tiles.

    Returns:
      uint8 array [rows * (H + p) + p, cols * (W + p) + p, C].
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images [N, H, W, 1 or 3], got {images.shape}")
    n, h, w, c = images.shape
    cols = num_cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + padding) + padding,
                     cols * (w + padding) + padding, c), np.uint8)
    tiles = np.round(np.clip(np.nan_to_num(images), 0, 1) * 255).astype(np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = tile
    return grid


def save_png(path, grid, scale=1):
    """Writes a uint8 grid [H, W, C] as PNG, optionally upscaled (nearest)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale),
                             Image.NEAREST)
    image.save(path)


def display_scale(image_size):
    """An integer upscale that makes small images (8x8 digits) visible."""
    return max(1, 64 // max(image_size))


# ----------------------------------------------------------- 2-D toy figures
#: Models of 2-D points see them as 1x1 images with 2 channels.
POINT_SHAPE = (1, 1, 2)


def is_point_model(model):
    """True for a model of 2-D points (`training.datasets.toy`)."""
    return tuple(model.image_shape) == POINT_SHAPE


def unit_square_grid(size):
    """Cell centres of a size x size grid on [0, 1]^2 as points [size^2, 1, 1, 2];
    row r of the picture is y = 1 - (r + 1/2) / size (y up)."""
    centres = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(centres, centres[::-1])
    return np.stack([x.ravel(), y.ravel()], 1).reshape(-1, *POINT_SHAPE).astype(np.float32)


def heatmap(values):
    """[S, S] non-negative values -> uint8 RGB [S, S, 3], black (0) to yellow
    (the maximum) through red, on a square-root scale."""
    v = np.sqrt(np.clip(np.nan_to_num(values), 0, None))
    v = v / v.max() if v.max() > 0 else v
    rgb = np.stack([np.clip(2 * v, 0, 1), np.clip(2 * v - 1, 0, 1), np.zeros_like(v)], -1)
    return np.round(rgb * 255).astype(np.uint8)


def scatter(points, size=256):
    """Points [N, 1, 1, 2] in [0, 1]^2 -> uint8 [size, size, 1], white dots on
    black, brighter where more points fall (y up)."""
    p = np.asarray(points, np.float32).reshape(-1, 2)
    cols = np.clip((p[:, 0] * size).astype(int), 0, size - 1)
    rows = np.clip(((1 - p[:, 1]) * size).astype(int), 0, size - 1)
    counts = np.zeros((size, size))
    np.add.at(counts, (rows, cols), 1.0)
    grey = np.clip(0.35 + 0.65 * counts / max(counts.max(), 1.0), 0, 1) * (counts > 0)
    return np.round(grey * 255).astype(np.uint8)[..., None]


def point_figure(model, sample_fn=None, num_samples=2000, seed=0, size=256):
    """The picture of a 2-D model: its density on the unit square when it has
    one (`log_density`), else a scatter of `num_samples` samples.

    Args:
      sample_fn: seeds -> samples (default `model.sample_from_seeds`).
    """
    from zoo.layers.sampling import per_row_seeds

    if hasattr(model, "log_density"):
        grid = unit_square_grid(size)
        log_p = np.concatenate([np.asarray(model.log_density(grid[i:i + 16384]))
                                for i in range(0, len(grid), 16384)])
        return heatmap(np.exp(log_p.astype(np.float64)).reshape(size, size))
    sample_fn = sample_fn or model.sample_from_seeds
    return scatter(np.asarray(sample_fn(per_row_seeds(num_samples, seed))), size)
