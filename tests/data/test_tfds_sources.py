"""tfds-backed sources on tfds's mock data (never the network), and missing-data errors."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tf_smvae import data
from tf_smvae.util.errors import DataError

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture
def mock_tfds(tmp_path):
    with tfds.testing.mock_data(num_examples=7, data_dir=str(tmp_path)):
        yield str(tmp_path)


def _raw_tfds(name, split, data_dir):
    dataset = tfds.load(name, split=split, data_dir=data_dir, download=False)
    return np.stack([ex["image"] for ex in tfds.as_numpy(dataset)])


@pytest.mark.parametrize("name, tfds_name", [("svhn", "svhn_cropped"), ("cifar10", "cifar10")])
def test_rgb_sources(mock_tfds, name, tfds_name):
    images, labels = data.load_arrays(name, "train", data_dir=mock_tfds, download=False)
    assert images.shape == (7, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (7,) and labels.dtype == np.int32 and labels.max() < 10
    np.testing.assert_array_equal(images, _raw_tfds(tfds_name, "train", mock_tfds))
    batch = next(iter(data.load(name, "test", data_dir=mock_tfds, batch_size=4, download=False)))
    assert batch.shape == (4, 32, 32, 3)


def test_omniglot_grey_inverted_and_resized(mock_tfds):
    images, labels = data.load_arrays("omniglot", "test", data_dir=mock_tfds, download=False)
    assert images.shape == (7, 28, 28, 1) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and labels.max() < 1623
    native, _ = data.load_arrays(
        "omniglot", "test", data_dir=mock_tfds, image_size=105, download=False
    )
    raw = _raw_tfds("omniglot", "test", mock_tfds).astype(np.float32)
    expected = np.round(255.0 - raw.mean(axis=-1, keepdims=True))
    np.testing.assert_allclose(native, expected, atol=1)
    resized = tf.image.resize(native.astype(np.float32), (28, 28), antialias=True).numpy()
    np.testing.assert_allclose(images, np.round(resized), atol=1)


def test_binarized_mnist_is_0_or_255_without_labels(mock_tfds):
    images, labels = data.load_arrays(
        "binarized_mnist", "validation", data_dir=mock_tfds, download=False
    )
    assert images.shape == (7, 28, 28, 1) and labels is None
    raw = _raw_tfds("binarized_mnist", "validation", mock_tfds)
    np.testing.assert_array_equal(images, np.where(raw > 0, 255, 0))
    batch = next(
        iter(data.load("binarized_mnist", "validation", data_dir=mock_tfds, download=False))
    )
    assert set(np.unique(batch.numpy())) <= {0.0, 1.0}


def test_mnist_falls_back_to_tfds(mock_tfds):
    if os.path.isdir("/usr/share/datasets/mnist"):
        pytest.skip("local MNIST files take precedence over tfds here")
    images, labels = data.load_arrays("mnist", "test", data_dir=mock_tfds, download=False)
    assert images.shape == (7, 28, 28, 1) and labels.shape == (7,)


def test_missing_dataset_lists_every_place_searched(tmp_path):
    if os.path.isdir("/usr/share/datasets/mnist") or os.path.exists(
        os.path.expanduser("~/.keras/datasets/mnist.npz")
    ):
        pytest.skip("MNIST is installed on this machine")
    with pytest.raises(DataError) as info:
        data.load("mnist", "train", data_dir=str(tmp_path), download=False)
    message = str(info.value)
    for place in (
        os.path.join(str(tmp_path), "train-{images-idx3,labels-idx1}-ubyte[.gz]"),
        os.path.join(str(tmp_path), "mnist", "train-"),
        "/usr/share/datasets/mnist/train-",
        os.path.expanduser("~/.keras/datasets/mnist/train-"),
        os.path.expanduser("~/.keras/datasets/mnist.npz"),
        f"tfds dataset 'mnist' in data_dir {tmp_path} (download=False)",
        "tfds build mnist",
        "--data_dir",
    ):
        assert place in message, place
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_tfds_only_dataset(tmp_path):
    with pytest.raises(DataError) as info:
        data.load_arrays("cifar10", "test", data_dir=str(tmp_path), download=False)
    message = str(info.value)
    assert f"tfds dataset 'cifar10' in data_dir {tmp_path}" in message
    assert "tfds build cifar10" in message and "download=True" in message


@pytest.fixture
def offline(monkeypatch):
    """The network made unreachable: every TCP connection is refused."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_offline_download_stops_at_once_with_one_line_and_leaves_nothing(tmp_path, offline):
    import time

    data_dir = tmp_path / "tfds"
    start = time.time()
    with pytest.raises(DataError) as info:
        data.load_arrays("svhn", "test", data_dir=str(data_dir), download=True)
    assert time.time() - start < 30
    message = str(info.value)
    assert "\n" not in message and "must be downloaded" in message
    assert str(data_dir) in message and "network is unreachable" in message
    assert "tfds build svhn_cropped" in message and "--data_dir=DIR" in message
    assert not data_dir.exists()


def test_offline_idx_fallback_names_every_place_in_one_line(tmp_path, offline):
    if os.path.isdir("/usr/share/datasets/mnist"):
        pytest.skip("local MNIST files take precedence over tfds here")
    with pytest.raises(DataError) as info:
        data.load_arrays("mnist", "test", data_dir=str(tmp_path), download=True)
    message = str(info.value)
    assert "\n" not in message and "also searched:" in message
    assert os.path.join(str(tmp_path), "mnist", "t10k-") in message
    assert os.listdir(tmp_path) == []


def test_a_failed_download_removes_only_what_it_added(tmp_path, monkeypatch):
    from tf_smvae.data import tfds_sources

    data_dir = tmp_path / "tfds"
    (data_dir / "downloads").mkdir(parents=True)
    (data_dir / "downloads" / "kept.zip").write_bytes(b"x")
    (data_dir / "cifar10").mkdir()
    real_load = tfds.load

    def failing_load(name, *, download, data_dir, **kwargs):
        if not download:
            return real_load(name, download=False, data_dir=data_dir, **kwargs)
        (tmp_path / "tfds" / "downloads" / "svhn.tmp").write_bytes(b"partial")
        (tmp_path / "tfds" / "svhn_cropped" / "3.1.0.incomplete").mkdir(parents=True)
        raise ConnectionError("Connection to ufldl.stanford.edu timed out")

    monkeypatch.setattr(tfds_sources, "network_reachable", lambda: True)
    monkeypatch.setattr(tfds, "load", failing_load)
    with pytest.raises(DataError, match="ConnectionError: Connection to ufldl"):
        data.load_arrays("svhn", "test", data_dir=str(data_dir), download=True)
    assert sorted(os.listdir(data_dir)) == ["cifar10", "downloads"]
    assert os.listdir(data_dir / "downloads") == ["kept.zip"]


def test_network_probe_address_from_the_environment(monkeypatch):
    from tf_smvae.data import tfds_sources

    monkeypatch.setenv(tfds_sources.NETWORK_PROBE_ENV, "127.0.0.1:9")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert tfds_sources.network_reachable() is False  # nothing listens on port 9
    monkeypatch.setenv(tfds_sources.NETWORK_PROBE_ENV, "no-port")
    with pytest.raises(DataError, match="TF_SMVAE_NETWORK_PROBE"):
        tfds_sources.network_reachable()
