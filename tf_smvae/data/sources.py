"""The registry of dataset sources and the types they share.

A source is an object registered in `SOURCES` under the dataset's name, with two methods:

- `arrays(split, *, data_dir, image_size, download) -> RawArrays`: the split's images
  [N, H, W, C] (uint8 0..255, or float32 in [0, 1] for float user data), int32 labels [N]
  or None, and `origin`, the file or place they came from (named in error messages);
- `info(*, data_dir, image_size) -> DatasetInfo`.

`image_size` reaches a source already normalised to None or (height, width).

Registered here by the modules of this package: `mnist`, `fashion_mnist` (idx_sources),
`omniglot`, `svhn`, `cifar10`, `binarized_mnist` (tfds_sources), `image_folder`, `npz`,
`linear_gaussian` and `linear_gaussian_50_100` (simulated, seeded; DESIGN section 3).
"""

import collections

from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError
from tf_smvae.util.registry import Registry

__all__ = [
    "SOURCES",
    "DatasetInfo",
    "RawArrays",
    "check_split",
    "missing_dataset_error",
    "source_names",
]

SOURCES = Registry("dataset")

DatasetInfo = collections.namedtuple("DatasetInfo", ["image_shape", "num_classes", "splits"])
DatasetInfo.__doc__ = """Static facts about a dataset.

Fields:
  image_shape: tuple (H, W, C) of the images `load` yields (after any resizing).
  num_classes: number of label classes, or None for an unlabelled dataset.
  splits: tuple of the split names `load` accepts.
"""

RawArrays = collections.namedtuple("RawArrays", ["images", "labels", "origin"])
RawArrays.__doc__ = """One split of a dataset as numpy arrays, before scaling.

Fields:
  images: uint8 [N, H, W, C] grey levels 0..255, or float32 in [0, 1] (float user data).
  labels: int32 [N], or None when the dataset has no labels.
  origin: the file or place the data came from, for error messages.
"""


def source_names():
    """Returns the sorted names of the registered dataset sources."""
    return SOURCES.names()


def check_split(name, split, splits):
    """Raises unless `split` is one of `splits`.

    Args:
      name: the dataset name, for the message.
      split: the requested split.
      splits: the splits the dataset has.

    Raises:
      ConfigError: naming the argument `split` and listing the available splits.
    """
    if split not in splits:
        raise ConfigError(
            f"Dataset {name!r} has no split {split!r} (argument 'split'); available: "
            f"{', '.join(splits)}."
        )


def missing_dataset_error(name, split, searched, how_to_get, cause=None):
    """Builds the error for a dataset found nowhere.

    Args:
      name: the dataset name.
      split: the requested split.
      searched: list of strings, one per place searched, in search order.
      how_to_get: sentence(s) saying how to get the data.
      cause: optional one-line reason from the last place tried.

    Returns:
      A `DataError` whose message lists every place searched and how to get the data.
    """
    places = "\n".join(f"  - {place}" for place in searched)
    reason = f"\nLast error: {cause}" if cause else ""
    return DataError(
        f"Dataset {name!r} (split {split!r}) not found. Searched:\n{places}{reason}\n"
        f"To get it: {how_to_get}"
    )
