"""The image_folder source on PNG files written into class folders in tmp_path."""

import os
import zlib

import numpy as np
import pytest
import tensorflow as tf

from tf_smvae import data
from tf_smvae.util.errors import DataError


def _write_png(path, value, size=(8, 8), channels=1):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = np.full((*size, channels), value, np.uint8)
    tf.io.write_file(path, tf.io.encode_png(image))


def _class_folder(root, per_class=6):
    """Writes classes 'b_cat' and 'a_dog' (grey 8x8, value = 10 * class + i)."""
    for c, name in enumerate(["a_dog", "b_cat"]):
        for i in range(per_class):
            _write_png(os.path.join(root, name, f"img{i}.png"), 10 * c + i)
    return root


def _expected_split(root, relative):
    return "test" if zlib.crc32(relative.encode()) % 100 < 20 else "train"


def test_class_folders_split_deterministically(tmp_path):
    root = _class_folder(str(tmp_path))
    seen = []
    for split in ("train", "test"):
        images, labels = data.load_arrays("image_folder", split, data_dir=root)
        assert images.dtype == np.uint8 and images.shape[1:] == (8, 8, 1)
        for image, label in zip(images, labels):
            c, i = divmod(int(image[0, 0, 0]), 10)
            assert label == c
            assert _expected_split(root, f"{['a_dog', 'b_cat'][c]}/img{i}.png") == split
            seen.append((c, i))
    assert sorted(seen) == [(c, i) for c in range(2) for i in range(6)]
    info = data.info("image_folder", data_dir=root)
    assert info == data.DatasetInfo((8, 8, 1), 2, ("train", "test"))


def test_split_folders_share_labels_and_convert_channels(tmp_path):
    root = str(tmp_path)
    _write_png(os.path.join(root, "train", "x_first", "a.png"), 100, size=(6, 4), channels=3)
    _write_png(os.path.join(root, "train", "z_last", "b.png"), 50, size=(10, 10))
    _write_png(os.path.join(root, "test", "z_last", "c.png"), 70, size=(6, 4))
    train, train_labels = data.load_arrays("image_folder", "train", data_dir=root)
    test, test_labels = data.load_arrays("image_folder", "test", data_dir=root)
    # Reference image: RGB 6x4, so all images are RGB 6x4; grey is replicated.
    assert train.shape == (2, 6, 4, 3) and test.shape == (1, 6, 4, 3)
    np.testing.assert_array_equal(train[1], np.full((6, 4, 3), 50))
    np.testing.assert_array_equal(train_labels, [0, 1])
    np.testing.assert_array_equal(test_labels, [1])
    with pytest.raises(DataError, match="no 'validation' split folder"):
        data.load_arrays("image_folder", "validation", data_dir=root)


def test_grey_reference_converts_rgb_and_resizes(tmp_path):
    root = str(tmp_path)
    _write_png(os.path.join(root, "train", "a", "0.png"), 30, size=(8, 8))
    _write_png(os.path.join(root, "train", "a", "1.png"), 200, size=(16, 12), channels=3)
    images, _ = data.load_arrays("image_folder", "train", data_dir=root)
    assert images.shape == (2, 8, 8, 1)
    np.testing.assert_array_equal(images[1], np.full((8, 8, 1), 200))
    resized, _ = data.load_arrays("image_folder", "train", data_dir=root, image_size=(5, 7))
    assert resized.shape == (2, 5, 7, 1)
    np.testing.assert_array_equal(resized[0], np.full((5, 7, 1), 30))
    batch = next(iter(data.load("image_folder", "train", data_dir=root, image_size=4)))
    assert batch.shape == (2, 4, 4, 1)


def test_errors_name_folder_or_file(tmp_path):
    with pytest.raises(DataError, match="needs data_dir"):
        data.load_arrays("image_folder", "train")
    with pytest.raises(DataError, match=f"No images found in {tmp_path}"):
        data.load_arrays("image_folder", "train", data_dir=str(tmp_path))
    bad = tmp_path / "cls" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        data.load_arrays("image_folder", "train", data_dir=str(tmp_path))
