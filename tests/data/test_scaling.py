"""Likelihood scaling and binarization of the loaded batches."""

import numpy as np
import pytest

from tf_smvae import data
from tf_smvae.util.errors import ConfigError


def _all_images(dataset):
    return np.concatenate([batch.numpy() for batch in dataset])


def _load(path, **kwargs):
    kwargs.setdefault("shuffle", False)
    kwargs.setdefault("batch_size", 16)
    return data.load("npz", "train", data_dir=path, **kwargs)


def test_static_threshold_half(grey_npz):
    path, images, _ = grey_npz
    x = _all_images(_load(path))
    np.testing.assert_array_equal(x[..., 0], (images / 255.0 > 0.5).astype(np.float32))
    # The threshold is exact: 127/255 < 0.5 < 128/255.
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    np.savez(path, x=levels)
    x = _all_images(_load(path))
    np.testing.assert_array_equal(x.ravel(), (np.arange(256) >= 128).astype(np.float32))


def test_binarization_none_keeps_grey_levels(grey_npz):
    path, images, _ = grey_npz
    x = _all_images(_load(path, binarization="none"))
    np.testing.assert_allclose(x[..., 0], images / 255.0, rtol=1e-6)


@pytest.mark.parametrize("likelihood", ["discretized_logistic", "gaussian"])
def test_unit_interval_scalings_equal_k_over_255(tmp_path, likelihood):
    path = str(tmp_path / "levels.npz")
    np.savez(path, x=np.arange(256, dtype=np.uint8).reshape(4, 8, 8))
    x = _all_images(_load(path, likelihood=likelihood))
    np.testing.assert_array_equal(x.ravel(), np.arange(256, dtype=np.float32) / np.float32(255))
    assert x.min() == 0.0 and x.max() == 1.0


def test_discretized_logistic_snaps_float_data_to_bin_centres(tmp_path):
    path = str(tmp_path / "float.npz")
    k = np.arange(256).reshape(4, 8, 8)
    jitter = np.where(k % 2 == 0, 1e-6, -1e-6)
    np.savez(path, x=np.clip(k / 255.0 + jitter, 0.0, 1.0))
    x = _all_images(_load(path, likelihood="discretized_logistic"))
    np.testing.assert_array_equal(x.ravel(), np.arange(256, dtype=np.float32) / np.float32(255))


def test_gaussian_keeps_float_data(tmp_path):
    path = str(tmp_path / "float.npz")
    values = np.linspace(0.0, 1.0, 2 * 5 * 5).reshape(2, 5, 5).astype(np.float32)
    np.savez(path, x=values)
    x = _all_images(_load(path, likelihood="gaussian"))
    np.testing.assert_array_equal(x[..., 0], values)


def test_dynamic_binarization(grey_npz):
    path, images, _ = grey_npz
    dataset = _load(path, binarization="dynamic", seed=3)
    first, second = _all_images(dataset), _all_images(dataset)
    assert set(np.unique(first)) == {0.0, 1.0}
    # 2400 pixels: the mean of the draws is within 5 standard errors of the grey mean.
    grey_mean = images.mean() / 255.0
    assert abs(first.mean() - grey_mean) < 5 * 0.5 / np.sqrt(images.size)
    assert (first != second).mean() > 0.2, "a fresh draw is expected on every pass"
    np.testing.assert_array_equal(_all_images(_load(path, binarization="dynamic", seed=3)), first)
    other_seed = _all_images(_load(path, binarization="dynamic", seed=4))
    assert (first != other_seed).mean() > 0.2
    # Pixels that are 0 or 255 are never flipped.
    np.testing.assert_array_equal(first[..., 0][images == 0], 0.0)
    np.testing.assert_array_equal(first[..., 0][images == 255], 1.0)


def test_dynamic_binarization_fresh_under_repeat(grey_npz):
    path, _, _ = grey_npz
    dataset = _load(path, binarization="dynamic", repeat=True, batch_size=50)
    iterator = iter(dataset)
    first, second = next(iterator).numpy(), next(iterator).numpy()
    assert (first != second).mean() > 0.2


@pytest.mark.parametrize(
    "kwargs, field",
    [({"likelihood": "poisson"}, "likelihood"), ({"binarization": "stochastic"}, "binarization")],
)
def test_unknown_likelihood_or_binarization(grey_npz, kwargs, field):
    with pytest.raises(ConfigError, match=field) as info:
        _load(grey_npz[0], **kwargs)
    known = data.LIKELIHOODS.names() if field == "likelihood" else data.BINARIZATIONS.names()
    for name in known:
        assert name in str(info.value)


def test_real_valued_data_is_refused_unless_the_likelihood_is_gaussian():
    import numpy as np

    from tf_smvae import data
    from tf_smvae.util.errors import DataError

    batch = next(iter(data.load("linear_gaussian", "train", likelihood="gaussian", shuffle=False)))
    values = batch.numpy()
    assert values.shape == (100, 1, 10, 1)
    assert values.min() < 0.0 or values.max() > 1.0  # real values, unchanged
    raw, _ = data.load_arrays("linear_gaussian", "train")
    np.testing.assert_array_equal(values, raw[:100])
    with pytest.raises(DataError, match="linear_gaussian"):
        data.load("linear_gaussian", "train", likelihood="bernoulli")
