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
