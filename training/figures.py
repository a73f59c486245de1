"""Image grids a finished run writes: latent-space figures and the model's own."""

import os

import numpy as np

from training.images import display_scale, is_point_model, make_grid, save_png


def write_latent_figures(model, out_dir, test_images, seed=0):
    """Manifold and interpolation grids for models with a latent space."""
    from zoo import latent

    if not {"encode", "decode"} <= set(model.capabilities) or \
            not hasattr(model, "latent_dim") or is_point_model(model):
        return []
    scale = display_scale(model.image_shape[:2])
    written = []
    # Models whose codes have no low-dimensional chart (diffusion: white
    # noise the size of the image) set `latent_manifold = False`.
    if model.latent_dim >= 2 and getattr(model, "latent_manifold", True):
        path = os.path.join(out_dir, "manifold.png")
        dims = latent.active_dims(model, test_images)
        save_png(path, make_grid(latent.manifold_grid(model, grid_size=15, dims=dims)),
                 scale)
        written.append(path)
    # Up to 8 pairs of test images; a small test split gives fewer rows.
    pairs = min(8, len(test_images) // 2)
    if pairs == 0:
        return written
    z = latent.codes(model, test_images[:2 * pairs]).numpy()
    for method in ("linear", "spherical"):
        path = os.path.join(out_dir, f"interpolation_{method}.png")
        paths = latent.interpolate(z[:pairs], z[pairs:], num_steps=10, method=method)
        images = model.decode(np.reshape(paths, (-1, model.latent_dim)))
        save_png(path, make_grid(images, num_cols=10), scale)
        written.append(path)
    return written


def write_model_figures(model, out_dir, test_images, seed=0):
    """Writes the model's own image grids (`model.figures`) as NAME.png
    (none for 2-D points, which are not images)."""
    if is_point_model(model):
        return []
    scale = display_scale(model.image_shape[:2])
    written = []
    for name, (images, num_cols) in model.figures(test_images, seed=seed).items():
        path = os.path.join(out_dir, f"{name}.png")
        save_png(path, make_grid(images, num_cols=num_cols), scale)
        written.append(path)
    return written
