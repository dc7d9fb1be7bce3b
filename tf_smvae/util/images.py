"""Image grids written as PNG, for sample and reconstruction previews."""

import math
import os

import numpy as np
import tensorflow as tf

__all__ = ["image_grid", "write_png"]


def image_grid(images, num_columns=None, padding=1):
    """Tiles images into one uint8 grid.

    Args:
      images: array [N, H, W, C] with values in [0, 1] (C = 1 or 3).
      num_columns: images per row; None makes the grid near-square.
      padding: pixels of white between images.

    Returns:
      uint8 numpy array [rows * (H + p) + p, cols * (W + p) + p, C].
    """
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    if images.ndim != 4:
        raise ValueError(f"image_grid needs images [N, H, W, C], got shape {images.shape}.")
    num, height, width, channels = images.shape
    cols = num_columns or max(1, math.ceil(math.sqrt(num)))
    rows = max(1, math.ceil(num / cols))
    grid = np.ones(
        (rows * (height + padding) + padding, cols * (width + padding) + padding, channels),
        np.float32,
    )
    for index in range(num):
        top = padding + (index // cols) * (height + padding)
        left = padding + (index % cols) * (width + padding)
        grid[top : top + height, left : left + width] = images[index]
    return np.round(grid * 255.0).astype(np.uint8)


def write_png(path, grid):
    """Writes a uint8 [H, W, C] array as PNG, atomically (temp file + rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    tf.io.write_file(tmp, tf.io.encode_png(grid))
    os.replace(tmp, path)
    return path
