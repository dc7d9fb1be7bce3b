"""Images in class sub-folders (the ADNI / Kaggle MRI layout).

Rules:
- Layout: `data_dir/<class>/<image>` or, when `data_dir/train/` exists, split folders
  `data_dir/{train,validation,test}/<class>/<image>` (the splits are those present).
  Without split folders the split is fixed and deterministic: an image goes to `test`
  when crc32 of its path relative to `data_dir` (forward slashes) mod 100 is below 20,
  else to `train` (about 80/20 per class; adding files never moves other files).
- Labels: index of the class folder name in the sorted union of class names over all
  split folders, so a class has one label in every split. Hidden folders are skipped.
- Images: files ending .png, .jpg, .jpeg, .bmp or .gif (any case), sorted by path; other
  files are ignored.
- Channels: those of the reference image (the first image of the first split in the
  order train, validation, test): grey (also grey + alpha) gives 1 channel, RGB or RGBA
  gives 3; every image is converted to that count by the decoder.
- Size: `image_size` (an int or (H, W)); by default the reference image's size. Images of
  another size are resized with an antialiased bilinear filter.
"""

import os
import zlib

import numpy as np
import tensorflow as tf

from tf_smvae.data.arrays import resize_batch
from tf_smvae.data.sources import SOURCES
from tf_smvae.data.sources import DatasetInfo
from tf_smvae.data.sources import RawArrays
from tf_smvae.util.errors import DataError

__all__ = [
    "ImageFolderSource",
]

_SPLIT_DIRS = ("train", "validation", "test")
_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_TEST_PERCENT = 20


def _subdirs(directory):
    """Sorted names of the visible sub-folders of `directory`."""
    return sorted(
        d
        for d in os.listdir(directory)
        if not d.startswith(".") and os.path.isdir(os.path.join(directory, d))
    )


def _image_files(directory):
    """Sorted image file paths directly inside `directory`."""
    return [
        os.path.join(directory, f)
        for f in sorted(os.listdir(directory))
        if f.lower().endswith(_EXTENSIONS) and os.path.isfile(os.path.join(directory, f))
    ]


def _hash_split(root, path):
    """The fixed split of an image in a folder without split sub-folders."""
    relative = os.path.relpath(path, root).replace(os.sep, "/")
    return "test" if zlib.crc32(relative.encode("utf-8")) % 100 < _TEST_PERCENT else "train"


def _scan(root):
    """Returns ({split: [(path, class name)]}, sorted class names) for `root`."""
    if os.path.isdir(os.path.join(root, "train")):
        split_dirs = {s: os.path.join(root, s) for s in _SPLIT_DIRS}
        split_dirs = {s: d for s, d in split_dirs.items() if os.path.isdir(d)}
        files = {
            s: [(p, c) for c in _subdirs(d) for p in _image_files(os.path.join(d, c))]
            for s, d in split_dirs.items()
        }
    else:
        files = {"train": [], "test": []}
        for c in _subdirs(root):
            for p in _image_files(os.path.join(root, c)):
                files[_hash_split(root, p)].append((p, c))
    classes = sorted({c for entries in files.values() for _, c in entries})
    if not classes:
        raise DataError(
            f"No images found in {root}: expected class sub-folders of "
            f"{'/'.join(_EXTENSIONS)} files, optionally under train/ and test/."
        )
    return files, classes


def _read(path):
    """Returns the bytes of an image file."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"Cannot read image {path}: {e}") from None


def _decode(path, channels):
    """Decodes one image file to a uint8 tensor [H, W, channels]."""
    try:
        return tf.io.decode_image(_read(path), channels=channels, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
        raise DataError(f"Cannot decode image {path}: {e.message.splitlines()[0]}") from None


def _reference(files):
    """Returns (channels, (H, W)) of the reference image."""
    path = next(entries[0][0] for s in _SPLIT_DIRS if (entries := files.get(s)))
    image = _decode(path, channels=0)
    channels = 1 if image.shape[-1] in (1, 2) else 3
    return channels, tuple(image.shape[:2])


class ImageFolderSource:
    """Class-folder images (`data_dir` is the root folder); see the module docstring."""

    name = "image_folder"

    def _root(self, data_dir):
        if data_dir is None or not os.path.isdir(data_dir):
            raise DataError(
                f"Dataset 'image_folder' needs data_dir=<folder of class sub-folders> "
                f"(--data_dir); {data_dir!r} is not a folder."
            )
        return data_dir

    def info(self, *, data_dir=None, image_size=None):
        """Returns `DatasetInfo`; scans the folder and decodes the reference image."""
        files, classes = _scan(self._root(data_dir))
        channels, size = _reference(files)
        return DatasetInfo((*(image_size or size), channels), len(classes), tuple(files))

    def arrays(self, split, *, data_dir=None, image_size=None, download=True):
        """Decodes one split into uint8 images [N, H, W, C] and int32 labels [N].

        Raises:
          DataError: if `data_dir` is not a folder, holds no images, has no folder for
            `split`, or an image cannot be decoded; the message names the folder or file.
        """
        del download
        root = self._root(data_dir)
        files, classes = _scan(root)
        if split not in files:
            raise DataError(f"{root} has no {split!r} split folder; found: {', '.join(files)}.")
        channels, size = _reference(files)
        size = image_size or size
        index = {c: i for i, c in enumerate(classes)}
        images = np.zeros((len(files[split]), *size, channels), np.uint8)
        for i, (path, _) in enumerate(files[split]):
            image = _decode(path, channels)
            if tuple(image.shape[:2]) != tuple(size):
                image = resize_batch(image[tf.newaxis], size)[0]
            images[i] = image.numpy()
        labels = np.array([index[c] for _, c in files[split]], np.int32)
        return RawArrays(images, labels, f"{root} (split {split!r})")


SOURCES.register("image_folder")(ImageFolderSource())
