"""The PNG figures of an evaluation report, drawn with PIL (no matplotlib)."""

import numpy as np


def draw_histograms(path, series, bins=40, size=(640, 360)):
    """Overlaid step histograms of named 1-D arrays, saved as PNG.

    Args:
      path: the PNG file.
      series: {label: float [N_label]}, at most three.
      bins: histogram bins over the joint range.
      size: (width, height) in pixels.
    """
    from PIL import Image, ImageDraw

    colors = [(31, 119, 180), (214, 39, 40), (44, 160, 44)]
    w, h = size
    left, right, top, bottom = 50, 10, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    lo = min(float(np.min(v)) for v in series.values())
    hi = max(float(np.max(v)) for v in series.values())
    hi = hi if hi > lo else lo + 1
    edges = np.linspace(lo, hi, bins + 1)
    hists = {k: np.histogram(v, edges)[0] / len(v) for k, v in series.items()}
    peak = max(float(hh.max()) for hh in hists.values()) or 1.0
    draw.line([(left, h - bottom), (w - right, h - bottom)], fill="black")
    draw.line([(left, top), (left, h - bottom)], fill="black")
    px = lambda i: left + (w - left - right) * i / bins  # noqa: E731
    py = lambda f: h - bottom - (h - top - bottom) * f / peak  # noqa: E731
    for (label, hist), color in zip(hists.items(), colors):
        points = []
        for i, f in enumerate(hist):
            points += [(px(i), py(f)), (px(i + 1), py(f))]
        draw.line(points, fill=color, width=2)
    for i, (label, color) in enumerate(zip(hists, colors)):
        draw.text((left + 10, 5 + 12 * i), f"{label} (n={len(series[label])})", fill=color)
    draw.text((left, h - bottom + 5), f"{lo:.3g}", fill="black")
    draw.text((w - right - 40, h - bottom + 5), f"{hi:.3g}", fill="black")
    draw.text((w // 2 - 80, h - 20), "L2 distance to nearest training image", fill="black")
    draw.text((2, top - 15), f"frac {peak:.2g}", fill="black")
    image.save(path)


def save_grid(path, images, num_cols=None):
    """Saves images [N, H, W, C] in [0, 1] as one PNG grid, enlarged when small."""
    from training.images import display_scale, make_grid, save_png

    save_png(path, make_grid(images, num_cols=num_cols),
             scale=display_scale(images.shape[1:3]))
