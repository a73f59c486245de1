"""Per-image quality of a translation against its target (TF ops, servable).

References:
  [1] Wang, Bovik, Sheikh, Simoncelli. Image Quality Assessment: From Error
      Visibility to Structural Similarity. IEEE TIP 2004 (SSIM).
"""

import tensorflow as tf


def psnr(images, targets):
    """Peak signal-to-noise ratio in dB per image [N], for values in [0, 1]
    (inf for identical images)."""
    return tf.image.psnr(images, targets, max_val=1.0)


def ssim(images, targets):
    """SSIM per image [N] ([1], `tf.image.ssim`): an 11x11 Gaussian window
    (sigma 1.5) as in [1], shrunk to the image for small images (width
    min(11, H, W), sigma scaled alike)."""
    size = min(11, int(images.shape[1]), int(images.shape[2]))
    return tf.image.ssim(images, targets, max_val=1.0, filter_size=size,
                         filter_sigma=1.5 * size / 11.0)


def l1(images, targets):
    """Mean absolute error per image [N]."""
    return tf.reduce_mean(tf.abs(images - targets), [1, 2, 3])


def bicubic(images, size):
    """Bicubic (antialiased) resize to `size` (H, W), clipped to [0, 1]: the
    baseline a super-resolution model must beat."""
    return tf.clip_by_value(tf.image.resize(images, size, method="bicubic", antialias=True),
                            0.0, 1.0)
