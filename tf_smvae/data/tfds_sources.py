"""Datasets read through TensorFlow Datasets: omniglot, svhn, cifar10, binarized_mnist.

`fetch_tfds` is also the last resort of the IDX sources (mnist, fashion_mnist). It reads a
prepared copy first; only when there is none and `download=True` does it download, and
then only after a 3-second check that the network is reachable: offline, it stops at once
with one line saying where the data was looked for and how to bring it, instead of minutes
of tfds retries. A failed download leaves no partial tfds folders behind. Every tfds failure
(dataset not prepared, download or network error, tfds missing) becomes a `DataError` that
lists every place searched.

Conversions (applied batch by batch while reading, so the full-size images never sit in
memory at once):
- omniglot: tfds stores 105x105x3 images with black strokes on white. They are turned into
  one grey channel (mean of RGB), inverted so strokes are 255 on a 0 background (as in the
  28x28 Omniglot of Burda et al. 2016 used by VAE papers), and resized to 28x28 with an
  antialiased bilinear filter (pass `image_size=105` for the native size). Labels are the
  1623 character classes.
- binarized_mnist: tfds stores {0, 1}; any non-zero value becomes 255 so that all sources
  share the 0..255 convention. It has no labels.
- svhn (tfds `svhn_cropped`), cifar10: 32x32x3 uint8 as stored.
"""

import contextlib
import os
import shutil
import socket

import numpy as np
import tensorflow as tf
from absl import logging as absl_logging

from tf_smvae.data.arrays import check_labels
from tf_smvae.data.arrays import resize_batch
from tf_smvae.data.sources import SOURCES
from tf_smvae.data.sources import DatasetInfo
from tf_smvae.data.sources import RawArrays
from tf_smvae.data.sources import check_split
from tf_smvae.data.sources import missing_dataset_error
from tf_smvae.util.errors import DataError

__all__ = [
    "NETWORK_PROBE",
    "NETWORK_PROBE_ENV",
    "TfdsSource",
    "fetch_tfds",
    "network_reachable",
]

_READ_BATCH = 1024
_DEFAULT_TFDS_DIR = "~/tensorflow_datasets"
# Where tfds downloads from first (its GCS mirror); probed before any download. The
# environment variable TF_SMVAE_NETWORK_PROBE=host:port probes another address (a mirror).
NETWORK_PROBE = ("storage.googleapis.com", 443)
NETWORK_PROBE_ENV = "TF_SMVAE_NETWORK_PROBE"
_PROBE_SECONDS = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


def _probe_address():
    value = os.environ.get(NETWORK_PROBE_ENV, "").strip()
    if not value:
        return NETWORK_PROBE
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise DataError(f"{NETWORK_PROBE_ENV}={value!r}: expected host:port.")
    return host, int(port)


def network_reachable(address=None, timeout=_PROBE_SECONDS):
    """Whether a TCP connection to `address` opens within `timeout` seconds.

    Behind a proxy (an `HTTPS_PROXY`-like variable set) a direct connection may fail where
    downloads work, so the answer is then True and tfds is left to try.

    Args:
      address: (host, port); default `NETWORK_PROBE` or `TF_SMVAE_NETWORK_PROBE`.
      timeout: seconds.

    Returns:
      bool.
    """
    address = address or _probe_address()
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return True
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_absl():
    """absl's Python log at ERROR and above only (tfds warns while probing a copy)."""
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def _offline_error(name, tfds_name, tfds_dir, searched):
    """The one-line error for a dataset that must be downloaded on a machine without network."""
    also = f" (also searched: {'; '.join(searched)})" if searched else ""
    folder = os.path.join(tfds_dir, tfds_name)
    return DataError(
        f"Dataset {name!r} must be downloaded: tfds {tfds_name!r} is not prepared in "
        f"{tfds_dir}{also}, and the network is unreachable. Bring it either way: run "
        f"`tfds build {tfds_name}` on a connected machine and copy its "
        f"~/tensorflow_datasets/{tfds_name} folder to {folder}; or copy that folder into "
        f"DIR/{tfds_name} anywhere and pass --data_dir=DIR (data_dir=DIR in Python)."
    )


def _snapshot(tfds_dir, tfds_name):
    """What exists before a download: tfds_dir, the dataset folder, the download entries."""
    downloads = os.path.join(tfds_dir, "downloads")
    return {
        "root": os.path.isdir(tfds_dir),
        "dataset": os.path.exists(os.path.join(tfds_dir, tfds_name)),
        "downloads": set(os.listdir(downloads)) if os.path.isdir(downloads) else None,
    }


def _remove_partial(tfds_dir, tfds_name, before):
    """Removes what a failed download added under `tfds_dir` (nothing that was there)."""
    if not before["root"]:
        shutil.rmtree(tfds_dir, ignore_errors=True)
        return
    if not before["dataset"]:
        shutil.rmtree(os.path.join(tfds_dir, tfds_name), ignore_errors=True)
    downloads = os.path.join(tfds_dir, "downloads")
    if before["downloads"] is None:
        shutil.rmtree(downloads, ignore_errors=True)
    elif os.path.isdir(downloads):
        for entry in set(os.listdir(downloads)) - before["downloads"]:
            path = os.path.join(downloads, entry)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


def _tfds_hint(tfds_name):
    """Returns the generic sentence on how to get a tfds dataset."""
    return (
        f"run once with internet access (load(..., download=True)), or `tfds build "
        f"{tfds_name} --data_dir=DIR` and pass data_dir=DIR (--data_dir), or copy a prepared "
        f"tensorflow_datasets folder there."
    )


def _first_line(error):
    """Returns the first line of an exception's message, shortened."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(error).__name__}: {text[:300]}"


def _import_tfds():
    """Imports tensorflow_datasets lazily (it is slow to import); returns None if absent."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    return tfds


def _default_tfds_dir(tfds):
    """Returns the directory tfds uses when no data_dir is given."""
    try:
        return tfds.core.constants.DATA_DIR
    except AttributeError:
        return _DEFAULT_TFDS_DIR


def _collect(dataset, label_key, convert):
    """Reads a tfds dataset of dicts into (images uint8 [N,H,W,C], labels [N] or None)."""

    def select(example):
        return (example["image"], example[label_key] if label_key else tf.zeros([], tf.int64))

    batches = dataset.map(select).batch(_READ_BATCH).map(lambda x, y: (convert(x), y))
    parts = [(x.numpy(), y.numpy()) for x, y in batches]
    if not parts:
        return np.zeros((0, 1, 1, 1), np.uint8), None
    images = np.concatenate([x for x, _ in parts])
    labels = np.concatenate([y for _, y in parts]) if label_key else None
    return images, labels


def fetch_tfds(
    name,
    tfds_name,
    split,
    *,
    data_dir,
    download,
    searched=(),
    how_to_get="",
    label_key="label",
    convert=None,
):
    """Reads one split of a tfds dataset into numpy arrays.

    Args:
      name: the tf_smvae dataset name, for messages.
      tfds_name: the tfds builder name.
      split: the tfds split name.
      data_dir: tfds data directory, or None for the tfds default.
      download: whether tfds may download and prepare the dataset.
      searched: places already searched, listed in the error if tfds fails too.
      how_to_get: source-specific instructions put before the generic tfds ones.
      label_key: feature holding the labels, or None for an unlabelled dataset.
      convert: function applied to each uint8 image batch tensor [B, H, W, C].

    Returns:
      `RawArrays` with uint8 images.

    Raises:
      DataError: if tfds is missing or cannot provide the data; the message lists every
        place searched, including tfds's data directory, and how to get the data.
    """
    tfds = _import_tfds()
    tfds_dir = data_dir or _default_tfds_dir(tfds)
    place = f"tfds dataset {tfds_name!r} in data_dir {tfds_dir} (download={download})"
    hint = f"{how_to_get} With tfds: {_tfds_hint(tfds_name)}".strip()
    if tfds is None:
        cause = "tensorflow_datasets is not installed (pip install tensorflow-datasets)"
        raise missing_dataset_error(name, split, [*searched, place], hint, cause)
    tfds_dir = os.path.expanduser(str(tfds_dir))
    # tfds reports "not prepared", network, checksum and import failures with many
    # unrelated exception types; all of them mean "not available here".
    try:
        with _quiet_absl():  # "Variant folder ... has no dataset_info.json" when absent
            dataset = tfds.load(tfds_name, split=split, data_dir=data_dir, download=False)
    except Exception as error:
        if not download:
            raise missing_dataset_error(
                name, split, [*searched, place], hint, _first_line(error)
            ) from None
        dataset = _download(tfds, name, tfds_name, split, data_dir, tfds_dir, searched, place, hint)
    try:
        images, labels = _collect(dataset, label_key, convert or tf.identity)
    except Exception as error:
        raise missing_dataset_error(
            name, split, [*searched, place], hint, _first_line(error)
        ) from None
    origin = f"tfds {tfds_name!r} split {split!r} in {tfds_dir}"
    return RawArrays(images, check_labels(labels, images.shape[0], origin), origin)


def _download(tfds, name, tfds_name, split, data_dir, tfds_dir, searched, place, hint):
    """Downloads and prepares a tfds dataset if the network is reachable; cleans up on failure."""
    if not network_reachable():
        raise _offline_error(name, tfds_name, tfds_dir, list(searched))
    before = _snapshot(tfds_dir, tfds_name)
    try:
        return tfds.load(tfds_name, split=split, data_dir=data_dir, download=True)
    except Exception as error:
        _remove_partial(tfds_dir, tfds_name, before)
        raise missing_dataset_error(
            name, split, [*searched, place], hint, _first_line(error)
        ) from None


def _grey_inverted(images):
    """Mean of the RGB channels, inverted: white-background strokes become 255 on 0."""
    grey = tf.reduce_mean(tf.cast(images, tf.float32), axis=-1, keepdims=True)
    return tf.cast(tf.round(255.0 - grey), tf.uint8)


def _binary_to_255(images):
    """Maps {0, 1} images (any non-zero value counts as 1) to {0, 255}."""
    return tf.where(images > 0, tf.constant(255, tf.uint8), tf.constant(0, tf.uint8))


class TfdsSource:
    """A dataset read only through tfds, with an optional per-batch conversion."""

    def __init__(
        self,
        name,
        tfds_name,
        *,
        image_shape,
        num_classes,
        splits=("train", "test"),
        convert=None,
        default_size=None,
    ):
        """Describes the source.

        Args:
          name: the tf_smvae dataset name.
          tfds_name: the tfds builder name.
          image_shape: (H, W, C) after `convert` and before resizing.
          num_classes: number of classes, or None if unlabelled (then no labels are read).
          splits: split names, the same in tf_smvae and tfds.
          convert: function on uint8 batch tensors applied before resizing.
          default_size: (height, width) used when `image_size` is None; None keeps
            `image_shape`.
        """
        self.name = name
        self.tfds_name = tfds_name
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.splits = tuple(splits)
        self._convert = convert or tf.identity
        self._default_size = default_size

    def _size(self, image_size):
        return image_size or self._default_size or self.image_shape[:2]

    def info(self, *, data_dir=None, image_size=None):
        """Returns the static `DatasetInfo` (tfds is not touched)."""
        del data_dir
        shape = (*self._size(image_size), self.image_shape[2])
        return DatasetInfo(shape, self.num_classes, self.splits)

    def arrays(self, split, *, data_dir=None, image_size=None, download=True):
        """Reads one split through tfds; see `fetch_tfds`."""
        check_split(self.name, split, self.splits)
        size = self._size(image_size)

        def convert(images):
            images = self._convert(images)
            return images if tuple(size) == self.image_shape[:2] else resize_batch(images, size)

        return fetch_tfds(
            self.name,
            self.tfds_name,
            split,
            data_dir=data_dir,
            download=download,
            label_key="label" if self.num_classes else None,
            convert=convert,
        )


for _source in (
    TfdsSource(
        "omniglot",
        "omniglot",
        image_shape=(105, 105, 1),
        num_classes=1623,
        convert=_grey_inverted,
        default_size=(28, 28),
    ),
    TfdsSource(
        "svhn",
        "svhn_cropped",
        image_shape=(32, 32, 3),
        num_classes=10,
        splits=("train", "test", "extra"),
    ),
    TfdsSource("cifar10", "cifar10", image_shape=(32, 32, 3), num_classes=10),
    TfdsSource(
        "binarized_mnist",
        "binarized_mnist",
        image_shape=(28, 28, 1),
        num_classes=None,
        splits=("train", "validation", "test"),
        convert=_binary_to_255,
    ),
):
    SOURCES.register(_source.name)(_source)
