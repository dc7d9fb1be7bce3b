"""KID of model samples: equal to KID by hand on the same features, seeded, clamped."""

import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tf_smvae import evaluation
from tf_smvae.util import seeds

IMAGE_SHAPE = (6, 6, 1)


@pytest.fixture(scope="module")
def model():
    return tf_smvae.VAE(IMAGE_SHAPE, 2, network_kwargs={"hidden_units": (8,)}, seed=3)


def _real(num, seed=0):
    return np.random.default_rng(seed).uniform(size=(num, *IMAGE_SHAPE)).astype(np.float32)


class _RecordingFlatten:
    """A feature extractor (flattened pixels) that keeps what it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, images):
        images = np.asarray(images)
        self.calls.append(images)
        return images.reshape(images.shape[0], -1)


def _whole_set_mmd2(real, fake):
    """Unbiased MMD^2 with k(a, b) = (a.b / dim + 1)^3 on two equal-size sets, in float64."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    size, dim = real.shape

    def gram(a, b):
        return (a @ b.T / dim + 1.0) ** 3

    off_diagonal = ~np.eye(size, dtype=bool)
    within = (gram(real, real)[off_diagonal].sum() + gram(fake, fake)[off_diagonal].sum()) / (
        size * (size - 1)
    )
    return within - 2.0 * gram(real, fake).mean()


def test_samples_are_the_models_mean_images_chunk_by_chunk(model):
    seed = tf.constant([4, 9], tf.int32)
    images = evaluation.sample_images(model, 7, seed)
    expected = model.sample(7, tf.random.experimental.stateless_fold_in(seed, 0))
    np.testing.assert_allclose(images, expected, atol=1e-6)
    assert images.shape == (7, *IMAGE_SHAPE) and images.min() >= 0.0 and images.max() <= 1.0


def test_equals_kid_by_hand_on_the_same_features(model):
    # subset_size clamps to 20 = num_real = num_fake: every subset is the whole set, so the
    # mean is the whole-set MMD^2 of the features the extractor produced.
    real, extractor = _real(20), _RecordingFlatten()
    result = evaluation.sample_kid(
        model, real, extractor, num_samples=20, seed=5, num_subsets=3, subset_size=1000
    )
    recorded_real, recorded_fake = extractor.calls
    np.testing.assert_array_equal(recorded_real, real)
    sample_seed, _ = seeds.split_seed(5, 2, salt="sample_kid")
    np.testing.assert_array_equal(recorded_fake, evaluation.sample_images(model, 20, sample_seed))
    expected = _whole_set_mmd2(real.reshape(20, -1), recorded_fake.reshape(20, -1))
    np.testing.assert_allclose(result["kid_mean"], expected, rtol=1e-10)
    assert result["kid_std"] < 1e-12
    assert result["num_real"] == 20 and result["num_fake"] == 20
    assert result["subset_size"] == 20 and result["requested_subset_size"] == 1000
    assert result["num_subsets"] == 3


def test_same_seed_same_value_other_seed_differs(model):
    real = _real(40, 1)

    def run(seed):
        return evaluation.sample_kid(
            model, real, _RecordingFlatten(), num_samples=30, seed=seed, subset_size=10
        )

    first, again, other = run(2), run(2), run(3)
    assert first == again
    assert first["kid_mean"] != other["kid_mean"]
    assert first["subset_size"] == 10 and first["num_subsets"] == 100


def test_grey_levels_and_datasets_are_accepted(model):
    grey = np.random.default_rng(2).integers(0, 256, size=(12, *IMAGE_SHAPE), dtype=np.uint8)
    kwargs = dict(num_samples=12, seed=0, num_subsets=2, subset_size=6)
    from_grey = evaluation.sample_kid(model, grey, _RecordingFlatten(), **kwargs)
    from_unit = evaluation.sample_kid(model, grey / 255.0, _RecordingFlatten(), **kwargs)
    batches = tf.data.Dataset.from_tensor_slices(grey / 255.0).batch(5)
    from_dataset = evaluation.sample_kid(model, batches, _RecordingFlatten(), **kwargs)
    assert from_grey["kid_mean"] == pytest.approx(from_unit["kid_mean"], rel=1e-6)
    assert from_dataset["kid_mean"] == pytest.approx(from_unit["kid_mean"], rel=1e-6)


@pytest.mark.parametrize(
    "real, kwargs, match",
    [
        (_real(10), {"num_samples": 1}, "num_samples"),
        (_real(10), {"num_samples": 5, "num_subsets": 0}, "num_subsets"),
        (_real(10), {"num_samples": 5, "subset_size": 1}, "subset_size"),
        (_real(1), {"num_samples": 5}, "at least 2"),
        (np.zeros((5, 7, 7, 1), np.float32), {"num_samples": 5}, "shape"),
    ],
)
def test_bad_inputs_raise_clearly(model, real, kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluation.sample_kid(model, real, _RecordingFlatten(), seed=0, **kwargs)
