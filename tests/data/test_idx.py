"""The IDX reader and the IDX sources (mnist, fashion_mnist) on tiny files in tmp_path."""

import gzip
import os
import struct

import numpy as np
import pytest

from tf_smvae import data
from tf_smvae.util.errors import DataError


def _idx_bytes(array):
    """Encodes a uint8 array as IDX."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, compress=False):
    """Writes `array` to `path` as IDX, gzip-compressed if asked; returns the path."""
    raw = _idx_bytes(array)
    with open(path, "wb") as f:
        f.write(gzip.compress(raw) if compress else raw)
    return str(path)


def write_mnist_like(directory, num_train=12, num_test=5, compress=True):
    """Writes the four IDX files of a tiny MNIST-like dataset; returns the arrays."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte{suffix}"), images, compress)
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte{suffix}"), labels, compress)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "a-idx3-ubyte", array, compress)
    np.testing.assert_array_equal(data.read_idx(path, expected_ndim=3), array)


def test_read_idx_big_endian_int32(tmp_path):
    array = np.array([1, -2, 70000], dtype=">i4")
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3) + array.tobytes())
    out = data.read_idx(str(path))
    np.testing.assert_array_equal(out, [1, -2, 70000])
    assert out.dtype == np.int32


def test_read_idx_bad_magic_names_file(tmp_path):
    path = tmp_path / "bad-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + b"\x00" * 12))
    with pytest.raises(DataError, match="bad-idx3-ubyte.gz.*bad magic"):
        data.read_idx(str(path))


@pytest.mark.parametrize(
    "raw, message",
    [
        (bytes([0, 0, 0x07, 1]) + struct.pack(">I", 1) + b"\x00", "type byte"),
        (bytes([0, 0, 0x08, 2]) + struct.pack(">I", 1), "truncated"),
        (bytes([0, 0, 0x08, 1]) + struct.pack(">I", 5) + b"\x00\x00", "holds 10 bytes"),
        (b"", "empty file"),
    ],
)
def test_read_idx_rejects_malformed(tmp_path, raw, message):
    path = tmp_path / "broken"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=message) as info:
        data.read_idx(str(path))
    assert str(path) in str(info.value)


def test_read_idx_wrong_rank(tmp_path):
    path = write_idx(tmp_path / "labels", np.zeros((4,), np.uint8))
    with pytest.raises(DataError, match="expected an IDX file with 3 dimensions"):
        data.read_idx(path, expected_ndim=3)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_idx_from_data_dir(tmp_path, compress):
    arrays = write_mnist_like(tmp_path, compress=compress)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = data.load_arrays("mnist", split, data_dir=str(tmp_path))
        assert images.shape == (len(arrays[prefix][0]), 28, 28, 1)
        assert images.dtype == np.uint8 and labels.dtype == np.int32
        np.testing.assert_array_equal(images[..., 0], arrays[prefix][0])
        np.testing.assert_array_equal(labels, arrays[prefix][1])


def test_fashion_mnist_data_dir_subfolder_wins_over_known_locations(tmp_path):
    arrays = write_mnist_like(tmp_path / "fashion-mnist", num_test=3)
    images, _ = data.load_arrays("fashion_mnist", "test", data_dir=str(tmp_path))
    np.testing.assert_array_equal(images[..., 0], arrays["t10k"][0])


def test_idx_image_size_resizes(tmp_path):
    write_mnist_like(tmp_path)
    images, _ = data.load_arrays("mnist", "test", data_dir=str(tmp_path), image_size=14)
    assert images.shape == (5, 14, 14, 1) and images.dtype == np.uint8


def test_incomplete_idx_download_names_files(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8), True)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz but not its labels"):
        data.load_arrays("mnist", "test", data_dir=str(tmp_path))


def test_idx_label_count_mismatch(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((2,), np.uint8))
    with pytest.raises(DataError, match="one label per image"):
        data.load_arrays("mnist", "test", data_dir=str(tmp_path))
