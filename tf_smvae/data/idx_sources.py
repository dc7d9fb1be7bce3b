"""MNIST and Fashion-MNIST from local IDX files, with tfds as the last resort.

Search order for a split (train files are `train-*`, test files `t10k-*`; each name is tried
as `X-images-idx3-ubyte` and `X-images.idx3-ubyte`, plain or with `.gz`):
1. `data_dir` and its sub-folders named after the dataset (`fashion-mnist`, `mnist`, ...);
2. known locations: the Debian package path `/usr/share/datasets/<name>/`
   (`apt-get install dataset-fashion-mnist`), Keras's download folder
   `~/.keras/datasets/<name>/`, and for mnist Keras's `~/.keras/datasets/mnist.npz`;
3. tfds (`tfds.load(name, data_dir=data_dir)`).
"""

import os

import numpy as np

from tf_smvae.data.arrays import as_nhwc
from tf_smvae.data.arrays import check_labels
from tf_smvae.data.arrays import resize_images
from tf_smvae.data.idx import read_idx
from tf_smvae.data.sources import SOURCES
from tf_smvae.data.sources import DatasetInfo
from tf_smvae.data.sources import RawArrays
from tf_smvae.data.sources import check_split
from tf_smvae.data.tfds_sources import fetch_tfds
from tf_smvae.util.errors import DataError

__all__ = [
    "IdxSource",
]

_FILE_PREFIX = {"train": "train", "test": "t10k"}
_SPLITS = tuple(_FILE_PREFIX)


def _first_existing(directory, prefix, kind, ndim):
    """Returns the first existing file among the spellings of one IDX file, or None."""
    for stem in (f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"):
        for suffix in (".gz", ""):
            path = os.path.join(directory, stem + suffix)
            if os.path.isfile(path):
                return path
    return None


class _IdxDirectory:
    """A folder that may hold the four MNIST-style IDX files."""

    def __init__(self, directory):
        self.directory = os.path.expanduser(directory)

    def describe(self, split):
        prefix = _FILE_PREFIX[split]
        return os.path.join(
            self.directory, f"{prefix}-{{images-idx3,labels-idx1}}-ubyte[.gz] (or '.idx' names)"
        )

    def load(self, split):
        """Returns `RawArrays` if the split's files are here, else None."""
        prefix = _FILE_PREFIX[split]
        images_path = _first_existing(self.directory, prefix, "images", 3)
        labels_path = _first_existing(self.directory, prefix, "labels", 1)
        if images_path is None and labels_path is None:
            return None
        if images_path is None or labels_path is None:
            found = images_path or labels_path
            raise DataError(
                f"Found {found} but not its {'labels' if labels_path is None else 'images'} "
                f"file ({prefix}-*-ubyte[.gz]) in {self.directory}; the download looks "
                f"incomplete."
            )
        images = as_nhwc(read_idx(images_path, expected_ndim=3), images_path)
        labels = check_labels(read_idx(labels_path, expected_ndim=1), len(images), labels_path)
        return RawArrays(images.astype(np.uint8), labels, images_path)


class _KerasNpz:
    """Keras's `mnist.npz` (keys x_train, y_train, x_test, y_test)."""

    def __init__(self, path):
        self.path = os.path.expanduser(path)

    def describe(self, split):
        return f"{self.path} (keys x_{split}, y_{split})"

    def load(self, split):
        """Returns `RawArrays` if the file exists, else None."""
        if not os.path.isfile(self.path):
            return None
        try:
            with np.load(self.path, allow_pickle=False) as f:
                images, labels = f[f"x_{split}"], f[f"y_{split}"]
        except (OSError, KeyError, ValueError) as e:
            raise DataError(f"Cannot read {self.path}: {e}") from None
        images = as_nhwc(images, self.path)
        return RawArrays(
            images.astype(np.uint8), check_labels(labels, len(images), self.path), self.path
        )


class IdxSource:
    """MNIST-like dataset (28x28 grey, 10 classes) from IDX files, else tfds."""

    def __init__(self, name, *, tfds_name, folder_names, known_locations, how_to_get):
        """Describes the source.

        Args:
          name: the tf_smvae dataset name.
          tfds_name: the tfds builder name used as the last resort.
          folder_names: sub-folders of `data_dir` also searched.
          known_locations: `_IdxDirectory`/`_KerasNpz` objects searched after `data_dir`.
          how_to_get: instructions for the error raised when nothing is found.
        """
        self.name = name
        self.tfds_name = tfds_name
        self.folder_names = tuple(folder_names)
        self.known_locations = list(known_locations)
        self.how_to_get = how_to_get

    def _locations(self, data_dir):
        user = []
        if data_dir is not None:
            user = [_IdxDirectory(data_dir)]
            user += [_IdxDirectory(os.path.join(data_dir, f)) for f in self.folder_names]
        return user + self.known_locations

    def info(self, *, data_dir=None, image_size=None):
        """Returns the static `DatasetInfo`."""
        del data_dir
        return DatasetInfo((*(image_size or (28, 28)), 1), 10, _SPLITS)

    def arrays(self, split, *, data_dir=None, image_size=None, download=True):
        """Returns one split, from the first location that has it, else from tfds.

        Raises:
          ConfigError: for an unknown split.
          DataError: if no location has the data (the message lists them all), or a
            file found is malformed.
        """
        check_split(self.name, split, _SPLITS)
        searched = []
        for location in self._locations(data_dir):
            raw = location.load(split)
            if raw is not None:
                return raw._replace(images=resize_images(raw.images, image_size))
            searched.append(location.describe(split))
        raw = fetch_tfds(
            self.name,
            self.tfds_name,
            split,
            data_dir=data_dir,
            download=download,
            searched=searched,
            how_to_get=self.how_to_get,
        )
        return raw._replace(images=resize_images(raw.images, image_size))


_DATA_DIR_HINT = "pass data_dir=DIR (--data_dir) holding the four IDX files."

SOURCES.register("fashion_mnist")(
    IdxSource(
        "fashion_mnist",
        tfds_name="fashion_mnist",
        folder_names=("fashion-mnist", "fashion_mnist"),
        known_locations=[
            _IdxDirectory("/usr/share/datasets/fashion-mnist"),
            _IdxDirectory("~/.keras/datasets/fashion-mnist"),
        ],
        how_to_get=f"`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or {_DATA_DIR_HINT}",
    )
)
SOURCES.register("mnist")(
    IdxSource(
        "mnist",
        tfds_name="mnist",
        folder_names=("mnist",),
        known_locations=[
            _IdxDirectory("/usr/share/datasets/mnist"),
            _IdxDirectory("~/.keras/datasets/mnist"),
            _KerasNpz("~/.keras/datasets/mnist.npz"),
        ],
        how_to_get=f"`python -c 'import keras; keras.datasets.mnist.load_data()'` with "
        f"internet access (writes ~/.keras/datasets/mnist.npz), or {_DATA_DIR_HINT}",
    )
)
