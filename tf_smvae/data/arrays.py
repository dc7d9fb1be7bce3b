"""Shape and value checks on raw image arrays, and resizing.

Raw images are numpy arrays [N, H, W, C] with C = 1 (grey) or 3 (RGB), either uint8 grey
levels 0..255 or float32 values in [0, 1]. These checks run once, vectorised, on the whole
array when a dataset is loaded, never per element inside a `tf.data` pipeline.
"""

import numpy as np
import tensorflow as tf

from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

__all__ = [
    "as_nhwc",
    "check_images",
    "check_labels",
    "normalize_image_size",
    "resize_batch",
    "resize_images",
    "to_raw_dtype",
]

_CHANNELS = (1, 3)
_LEVELS = 255
# Float data counts as sitting on the grid k/255 when |255 x - round(255 x)| is below this.
_LEVEL_TOLERANCE = 1e-3
_RESIZE_CHUNK = 2048


def normalize_image_size(image_size):
    """Returns `image_size` as a pair (height, width), or None.

    Args:
      image_size: None, a positive int (square images) or a pair of positive ints.

    Returns:
      None or a tuple (height, width) of Python ints.

    Raises:
      ConfigError: naming `image_size` if it is not of that form.
    """
    if image_size is None:
        return None
    size = (image_size, image_size) if np.ndim(image_size) == 0 else tuple(image_size)
    if len(size) != 2 or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size
    ):
        raise ConfigError(
            f"image_size must be a positive int or a pair (height, width) of positive ints; "
            f"got {image_size!r}."
        )
    return tuple(int(s) for s in size)


def as_nhwc(images, origin):
    """Returns `images` as [N, H, W, C] with C in {1, 3}.

    Args:
      images: array-like [N, H, W] (grey) or [N, H, W, C].
      origin: the file or source the array came from, for error messages.

    Returns:
      A numpy array [N, H, W, C].

    Raises:
      DataError: naming `origin`, if the array is not a stack of grey or RGB images.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] not in _CHANNELS or 0 in images.shape[1:]:
        raise DataError(
            f"{origin}: expected images of shape [N, H, W] or [N, H, W, C] with C in "
            f"{_CHANNELS}; got shape {np.shape(images)}."
        )
    return images


def check_labels(labels, num_images, origin):
    """Returns `labels` as int32 [N] after checking them.

    Args:
      labels: array-like of integer class labels, or None.
      num_images: the number of images the labels belong to.
      origin: the file or source, for error messages.

    Returns:
      An int32 numpy array [num_images], or None if `labels` is None.

    Raises:
      DataError: naming `origin`, if the labels are not a vector of non-negative integers
        with one entry per image.
    """
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != num_images:
        raise DataError(
            f"{origin}: expected one label per image ({num_images}), got labels of shape "
            f"{labels.shape}."
        )
    if labels.size and (
        not np.issubdtype(labels.dtype, np.number)
        or not np.all(np.isfinite(labels))
        or np.any(labels != np.round(labels))
        or labels.min() < 0
    ):
        raise DataError(f"{origin}: labels must be non-negative integers.")
    return labels.astype(np.int32)


def _check_float(images, origin, integer_levels, unit_interval=True):
    """Checks float images: finite, in [0, 1] if asked, and on the k/255 grid if asked."""
    finite = np.isfinite(images)
    if not finite.all():
        raise DataError(
            f"{origin}: {images.size - int(finite.sum())} non-finite values (NaN or inf) in "
            f"the images."
        )
    low, high = float(images.min()), float(images.max())
    if unit_interval and (low < 0.0 or high > 1.0):
        raise DataError(
            f"{origin}: float images must lie in [0, 1]; found values in [{low:g}, {high:g}]. "
            f"Divide 0..255 data by 255 or store it as uint8."
        )
    if integer_levels:
        off_grid = np.abs(images * _LEVELS - np.round(images * _LEVELS)).max()
        if off_grid > _LEVEL_TOLERANCE:
            raise DataError(
                f"{origin}: the discretized_logistic likelihood needs grey levels k/255 for "
                f"integers k; found values up to {off_grid / _LEVELS:.3g} away from that grid."
            )


def check_images(images, origin, *, integer_levels=False, unit_interval=True):
    """Checks the values of raw images for a likelihood.

    Args:
      images: numpy array [N, H, W, C] of integers in 0..255 or floats in [0, 1].
      origin: the file or source, named in error messages.
      integer_levels: whether float values must sit on the grid k/255 (discretized
        logistic likelihood).
      unit_interval: whether float values must lie in [0, 1] (False for real-valued data
        under a Gaussian likelihood).

    Raises:
      DataError: naming `origin`, for an empty array, an unsupported dtype, NaN/inf values,
        or values outside 0..255 (integers) or [0, 1] (floats), or off the k/255 grid.
    """
    if images.shape[0] == 0:
        raise DataError(f"{origin}: the dataset holds no examples.")
    if np.issubdtype(images.dtype, np.floating):
        _check_float(images, origin, integer_levels, unit_interval)
    elif np.issubdtype(images.dtype, np.integer):
        low, high = int(images.min()), int(images.max())
        if low < 0 or high > _LEVELS:
            raise DataError(
                f"{origin}: integer images must hold grey levels 0..255; found values in "
                f"[{low}, {high}]."
            )
    else:
        raise DataError(
            f"{origin}: images of dtype {images.dtype} are not supported; use uint8 0..255 "
            f"or float values in [0, 1]."
        )


def to_raw_dtype(images, origin):
    """Checks images and converts them to uint8 (integer data) or float32 (float data).

    Args:
      images: numpy array [N, H, W, C].
      origin: the file or source, named in error messages.

    Returns:
      The images as uint8 or float32.

    Raises:
      DataError: as `check_images`.
    """
    check_images(images, origin)
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.uint8, copy=False)
    return images.astype(np.float32, copy=False)


def resize_batch(images, size):
    """Resizes a batch tensor [B, H, W, C] to `size` (antialiased bilinear), keeping its dtype.

    Args:
      images: uint8 or float tensor [B, H, W, C].
      size: pair (height, width).

    Returns:
      A tensor [B, height, width, C]: uint8 rounded and clipped to 0..255, or float32
      clipped to [0, 1].
    """
    resized = tf.image.resize(tf.cast(images, tf.float32), size, antialias=True)
    if images.dtype == tf.uint8:
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    return tf.clip_by_value(resized, 0.0, 1.0)


def resize_images(images, size):
    """Resizes images [N, H, W, C] to `size` with an antialiased bilinear filter.

    uint8 images are rounded back to uint8; float images stay float32 in [0, 1]. The work
    is done in chunks so memory stays bounded for large N.

    Args:
      images: numpy array or tensor [N, H, W, C], uint8 or float.
      size: pair (height, width), or None to return `images` unchanged.

    Returns:
      A numpy array [N, height, width, C].
    """
    images = np.asarray(images)
    if size is None or tuple(images.shape[1:3]) == tuple(size):
        return images
    chunks = [
        resize_batch(tf.convert_to_tensor(images[i : i + _RESIZE_CHUNK]), size).numpy()
        for i in range(0, images.shape[0], _RESIZE_CHUNK)
    ]
    return (
        np.concatenate(chunks) if chunks else np.zeros((0, *size, images.shape[-1]), images.dtype)
    )
