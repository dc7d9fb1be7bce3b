"""Real Fashion-MNIST from the Debian package files (apt-get install dataset-fashion-mnist)."""

import os

import numpy as np
import pytest

from tf_smvae import data

_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

pytestmark = pytest.mark.skipif(
    not os.path.isfile(os.path.join(_DEBIAN_DIR, "t10k-images-idx3-ubyte.gz")),
    reason="Fashion-MNIST Debian files absent (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def test_arrays():
    return data.load_arrays("fashion_mnist", "test")


def test_train_arrays_shapes():
    images, labels = data.load_arrays("fashion_mnist", "train")
    assert images.shape == (60000, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 6000))


def test_test_arrays_shapes(test_arrays):
    images, labels = test_arrays
    assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.unique(labels), np.arange(10))
    assert images.max() == 255 and images.min() == 0


def test_info():
    info = data.info("fashion_mnist")
    assert info == data.DatasetInfo((28, 28, 1), 10, ("train", "test"))


def test_load_batches_static_binarization(test_arrays):
    images, labels = test_arrays
    dataset = data.load(
        "fashion_mnist", "test", batch_size=32, num_examples=100, shuffle=False, with_labels=True
    )
    batches = list(dataset)
    assert [b[0].shape[0] for b in batches] == [32, 32, 32, 4]
    assert batches[0][0].shape == (32, 28, 28, 1) and batches[0][0].dtype.name == "float32"
    x = np.concatenate([b[0].numpy() for b in batches])
    assert set(np.unique(x)) <= {0.0, 1.0}
    np.testing.assert_array_equal(x, (images[:100] / 255.0 > 0.5).astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), labels[:100])
