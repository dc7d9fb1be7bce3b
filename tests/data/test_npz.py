"""The npz source: user arrays, their checks and error messages."""

import numpy as np
import pytest

from tf_smvae import data
from tf_smvae.util.errors import DataError


def _save(tmp_path, name="d.npz", **arrays):
    path = str(tmp_path / name)
    np.savez(path, **arrays)
    return path


def test_uint8_with_labels(grey_npz):
    path, images, labels = grey_npz
    x, y = data.load_arrays("npz", "test", data_dir=path)
    assert x.shape == (50, 8, 6, 1) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[..., 0], images)
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int32
    assert data.info("npz", data_dir=path) == data.DatasetInfo(
        (8, 6, 1), 5, ("train", "validation", "test")
    )


def test_float_rgb_without_labels(tmp_path):
    values = np.random.default_rng(0).uniform(size=(6, 4, 5, 3))
    path = _save(tmp_path, x=values)
    x, y = data.load_arrays("npz", "train", data_dir=path)
    assert x.dtype == np.float32 and x.shape == (6, 4, 5, 3) and y is None
    batch = next(
        iter(data.load("npz", "train", data_dir=path, likelihood="gaussian", shuffle=False))
    )
    np.testing.assert_allclose(batch.numpy(), values, rtol=1e-6)


def test_int64_levels_become_uint8(tmp_path):
    path = _save(tmp_path, x=np.full((2, 3, 3), 200, np.int64))
    x, _ = data.load_arrays("npz", "train", data_dir=path)
    assert x.dtype == np.uint8 and x.max() == 200


def test_folder_of_split_files(tmp_path):
    _save(tmp_path, "train.npz", x=np.zeros((3, 4, 4), np.uint8))
    _save(tmp_path, "test.npz", x=np.ones((2, 4, 4), np.uint8), y=[0, 1])
    assert data.load_arrays("npz", "train", data_dir=str(tmp_path))[0].shape == (3, 4, 4, 1)
    assert data.load_arrays("npz", "test", data_dir=str(tmp_path))[0].shape == (2, 4, 4, 1)
    assert data.info("npz", data_dir=str(tmp_path)).splits == ("train", "test")
    with pytest.raises(DataError, match="validation.npz"):
        data.load_arrays("npz", "validation", data_dir=str(tmp_path))


def test_image_size_resizes(grey_npz):
    x, _ = data.load_arrays("npz", "train", data_dir=grey_npz[0], image_size=(4, 3))
    assert x.shape == (50, 4, 3, 1) and x.dtype == np.uint8


def test_missing_file_names_path(tmp_path):
    path = str(tmp_path / "nowhere.npz")
    with pytest.raises(DataError, match="nowhere.npz"):
        data.load("npz", "train", data_dir=path)
    with pytest.raises(DataError, match="needs data_dir"):
        data.load("npz", "train")


def test_nan_names_file(tmp_path):
    values = np.full((3, 4, 4), 0.5)
    values[1, 2, 2] = np.nan
    path = _save(tmp_path, "nan.npz", x=values)
    with pytest.raises(DataError, match=r"nan\.npz.*1 non-finite"):
        data.load("npz", "train", data_dir=path)


@pytest.mark.parametrize(
    "values, match",
    [
        (np.full((2, 3, 3), 1.5), r"\[0, 1\]; found values in \[1.5, 1.5\]"),
        (np.full((2, 3, 3), -0.25), r"found values in \[-0.25, -0.25\]"),
        (np.full((2, 3, 3), 300, np.int32), r"0..255; found values in \[300, 300\]"),
        (np.zeros((2, 3, 3), bool), "dtype bool"),
        (np.zeros((5, 7)), "shape"),
        (np.zeros((2, 3, 3, 4)), "shape"),
        (np.zeros((0, 3, 3)), "no examples"),
    ],
)
def test_bad_values_name_file(tmp_path, values, match):
    path = _save(tmp_path, "bad.npz", x=values)
    with pytest.raises(DataError, match=match) as info:
        data.load("npz", "train", data_dir=path)
    assert "bad.npz" in str(info.value)


def test_float_off_grid_rejected_for_discretized_logistic(tmp_path):
    path = _save(tmp_path, x=np.full((2, 3, 3), 0.3))  # 0.3 * 255 = 76.5
    with pytest.raises(DataError, match="k/255"):
        data.load("npz", "train", data_dir=path, likelihood="discretized_logistic")
    assert next(iter(data.load("npz", "train", data_dir=path, likelihood="gaussian"))).shape[0] == 2


@pytest.mark.parametrize(
    "labels, match", [([0, 1], "one label per image"), ([0, -1, 2], "non-negative integers")]
)
def test_bad_labels(tmp_path, labels, match):
    path = _save(tmp_path, x=np.zeros((3, 2, 2), np.uint8), y=np.array(labels))
    with pytest.raises(DataError, match=match):
        data.load_arrays("npz", "train", data_dir=path)


def test_missing_x_key(tmp_path):
    path = _save(tmp_path, images=np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(DataError, match="no array 'x'.*images"):
        data.load_arrays("npz", "train", data_dir=path)
