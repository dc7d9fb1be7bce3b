"""User arrays in `.npz` files.

`data_dir` is either one `.npz` file, which then serves every split asked for, or a folder
holding `{split}.npz` (`train.npz`, `test.npz`, `validation.npz`). Each file holds images
under key `x`, [N, H, W] or [N, H, W, C] with C in {1, 3}, as integers 0..255 (returned as
uint8) or floats in [0, 1] (returned as float32), and optional integer labels under `y`.
"""

import os

import numpy as np

from tf_smvae.data.arrays import as_nhwc
from tf_smvae.data.arrays import check_labels
from tf_smvae.data.arrays import resize_images
from tf_smvae.data.arrays import to_raw_dtype
from tf_smvae.data.sources import SOURCES
from tf_smvae.data.sources import DatasetInfo
from tf_smvae.data.sources import RawArrays
from tf_smvae.util.errors import DataError

__all__ = [
    "NpzSource",
]

_SPLITS = ("train", "validation", "test")


def _path(data_dir, split):
    """Returns the .npz file that holds `split`."""
    if data_dir is None:
        raise DataError(
            "Dataset 'npz' needs data_dir=<file.npz or folder of {split}.npz> (--data_dir)."
        )
    path = os.path.join(data_dir, f"{split}.npz") if os.path.isdir(data_dir) else data_dir
    if not os.path.isfile(path):
        raise DataError(
            f"Dataset 'npz' (split {split!r}) not found: no file {path}. Pass data_dir=<a .npz "
            f"file with arrays x [N, H, W(, C)] and optional y [N]> or a folder holding "
            f"{split}.npz."
        )
    return path


def _read(path):
    """Returns (x, y or None) from an .npz file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f.files:
                raise DataError(
                    f"{path}: no array 'x' (images); found keys: {', '.join(f.files) or 'none'}."
                )
            return f["x"], (f["y"] if "y" in f.files else None)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"Cannot read {path} as .npz: {e}") from None


class NpzSource:
    """Images (and labels) from user .npz files; see the module docstring."""

    name = "npz"

    def info(self, *, data_dir=None, image_size=None):
        """Returns `DatasetInfo`, reading the train file (or the single file)."""
        raw = self.arrays("train", data_dir=data_dir, image_size=image_size)
        labels = raw.labels
        num_classes = None if labels is None or not labels.size else int(labels.max()) + 1
        if data_dir is not None and os.path.isdir(data_dir):
            splits = tuple(s for s in _SPLITS if os.path.isfile(os.path.join(data_dir, f"{s}.npz")))
        else:
            splits = _SPLITS
        return DatasetInfo(raw.images.shape[1:], num_classes, splits)

    def arrays(self, split, *, data_dir=None, image_size=None, download=True):
        """Reads one split.

        Raises:
          DataError: naming the file, if it is missing or unreadable, `x` is not a stack
            of grey/RGB images, integer images leave 0..255, float images hold NaN/inf or
            leave [0, 1], or `y` does not hold one integer label per image.
        """
        del download
        path = _path(data_dir, split)
        images, labels = _read(path)
        images = to_raw_dtype(as_nhwc(images, path), path)
        labels = check_labels(labels, images.shape[0], path)
        return RawArrays(resize_images(images, image_size), labels, path)


SOURCES.register("npz")(NpzSource())
