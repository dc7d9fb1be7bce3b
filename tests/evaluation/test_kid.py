"""KID against a direct loop-based MMD^2, its statistics, and the feature extractors."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae  # noqa: F401  (sets KERAS_BACKEND before keras is used)
from tf_smvae import evaluation
from tf_smvae.evaluation import features as features_lib


def _loop_mmd2(real, fake):
    """Unbiased MMD^2 with k(a, b) = (a.b / dim + 1)^3, written out pair by pair."""
    size, dim = real.shape

    def kernel(a, b):
        return (sum(float(u) * float(v) for u, v in zip(a, b)) / dim + 1.0) ** 3

    pairs = [(i, j) for i, j in itertools.product(range(size), repeat=2) if i != j]
    within_real = sum(kernel(real[i], real[j]) for i, j in pairs) / (size * (size - 1))
    within_fake = sum(kernel(fake[i], fake[j]) for i, j in pairs) / (size * (size - 1))
    cross = sum(kernel(real[i], fake[j]) for i in range(size) for j in range(size)) / size**2
    return within_real + within_fake - 2.0 * cross


def _fixed_features(num_rows, dim, seed, shift=0.0):
    return np.random.default_rng(seed).normal(size=(num_rows, dim)) + shift


def test_whole_set_equals_loop_mmd2():
    # subset_size >= n: every subset is a permutation of the whole set, so each estimate is
    # the whole-set MMD^2 (independent of which permutation is drawn) and the std is 0.
    real, fake = _fixed_features(7, 3, 0), _fixed_features(7, 3, 1, shift=0.3)
    mean, std = evaluation.kid(real, fake, num_subsets=3, subset_size=50)
    np.testing.assert_allclose(mean, _loop_mmd2(real, fake), rtol=1e-10)
    assert std < 1e-12
    assert isinstance(mean, float) and isinstance(std, float)


def test_subsets_equal_loop_mmd2_on_the_same_draws():
    # Subsets drawn as documented: per subset, real rows then fake rows, without replacement.
    real, fake = _fixed_features(9, 4, 2), _fixed_features(12, 4, 3, shift=0.5)
    num_subsets, subset_size, seed = 4, 5, 11
    rng = np.random.default_rng(seed)
    expected = []
    for _ in range(num_subsets):
        real_rows = rng.choice(9, size=subset_size, replace=False)
        fake_rows = rng.choice(12, size=subset_size, replace=False)
        expected.append(_loop_mmd2(real[real_rows], fake[fake_rows]))
    mean, std = evaluation.kid(
        real, fake, num_subsets=num_subsets, subset_size=subset_size, seed=seed
    )
    np.testing.assert_allclose(mean, np.mean(expected), rtol=1e-10)
    np.testing.assert_allclose(std, np.std(expected), rtol=1e-8)


def test_accepts_tensors():
    real, fake = _fixed_features(20, 3, 4), _fixed_features(15, 3, 5)
    from_numpy = evaluation.kid(real, fake, num_subsets=5, subset_size=10)
    from_tensors = evaluation.kid(
        tf.constant(real), tf.constant(fake), num_subsets=5, subset_size=10
    )
    assert from_numpy == from_tensors


def test_same_distribution_is_about_zero():
    real, fake = _fixed_features(600, 16, 6), _fixed_features(600, 16, 7)
    mean, std = evaluation.kid(real, fake, num_subsets=50, subset_size=200)
    assert std > 0.0
    assert abs(mean) < 3.0 * std


def test_shifted_distribution_is_clearly_positive():
    real, fake = _fixed_features(600, 16, 6), _fixed_features(600, 16, 7, shift=0.5)
    mean, std = evaluation.kid(real, fake, num_subsets=50, subset_size=200)
    assert mean > 5.0 * std


def test_seed_reproduces_and_different_seeds_differ():
    real, fake = _fixed_features(100, 8, 8), _fixed_features(100, 8, 9, shift=0.2)
    first = evaluation.kid(real, fake, num_subsets=10, subset_size=30, seed=3)
    again = evaluation.kid(real, fake, num_subsets=10, subset_size=30, seed=3)
    other = evaluation.kid(real, fake, num_subsets=10, subset_size=30, seed=4)
    assert first == again
    assert first != other


@pytest.mark.parametrize(
    "real, fake, kwargs, name",
    [
        (np.zeros((5,)), np.zeros((5, 2)), {}, "real_features"),
        (np.zeros((5, 2)), np.zeros((5, 2, 1)), {}, "fake_features"),
        (np.zeros((1, 2)), np.zeros((5, 2)), {}, "real_features"),
        (np.zeros((5, 2)), np.zeros((1, 2)), {}, "fake_features"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), {}, "real_features"),
        (np.zeros((5, 2)), np.full((5, 2), np.inf), {}, "fake_features"),
        (np.zeros((5, 2)), np.zeros((5, 3)), {}, "feature dimension"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"num_subsets": 0}, "num_subsets"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"subset_size": 1}, "subset_size"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(real, fake, kwargs, name):
    with pytest.raises(ValueError, match=name):
        evaluation.kid(real, fake, **kwargs)


def _tiny_model():
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="tanh", name="hidden"),
            keras.layers.Dense(3, name="head"),
        ]
    )


def test_keras_model_extractor_matches_predict():
    keras.utils.set_random_seed(0)
    model = _tiny_model()
    images = np.random.default_rng(10).uniform(size=(10, 6, 6, 1)).astype(np.float32)
    extract = evaluation.keras_model_extractor(model, batch_size=3)
    features = extract(images)
    assert features.shape == (10, 3)
    np.testing.assert_allclose(features, model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)

    hidden = evaluation.keras_model_extractor(model, "hidden", batch_size=4)(images)
    assert hidden.shape == (10, 5)
    kernel, bias = model.get_layer("hidden").get_weights()
    np.testing.assert_allclose(
        hidden, np.tanh(images.reshape(10, -1) @ kernel + bias), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="layer_name"):
        evaluation.keras_model_extractor(model, "no_such_layer")


def test_preprocess_grey_to_rgb_resize_and_scale():
    grey = np.stack([np.zeros((8, 8)), np.full((8, 8), 0.25), np.ones((8, 8))]).astype(np.float32)
    for images in (grey, grey[..., None]):
        out = features_lib.preprocess_for_inception(images, 150).numpy()
        assert out.shape == (3, 150, 150, 3)
        np.testing.assert_allclose(out[0], -1.0, atol=1e-6)
        np.testing.assert_allclose(out[1], -0.5, atol=1e-6)
        np.testing.assert_allclose(out[2], 1.0, atol=1e-6)
    # RGB input: channels kept apart; the resize preserves per-channel constant images.
    rgb = np.broadcast_to(np.array([0.0, 0.5, 1.0], np.float32), (2, 28, 28, 3))
    out = features_lib.preprocess_for_inception(rgb, 299).numpy()
    assert out.shape == (2, 299, 299, 3)
    np.testing.assert_allclose(out[..., 0], -1.0, atol=1e-6)
    np.testing.assert_allclose(out[..., 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[..., 2], 1.0, atol=1e-6)
    # Already at input size: only the scaling applies.
    same = np.random.default_rng(12).uniform(size=(1, 150, 150, 3)).astype(np.float32)
    out = features_lib.preprocess_for_inception(same, 150).numpy()
    np.testing.assert_allclose(out, 2.0 * same - 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="images"):
        features_lib.preprocess_for_inception(np.zeros((1, 8, 8, 2)), 150)


def test_inception_missing_weights_file(tmp_path):
    missing = tmp_path / "inception_v3_notop.h5"
    with pytest.raises(FileNotFoundError, match="offline") as error:
        evaluation.inception_extractor(missing)
    assert str(missing) in str(error.value)
    with pytest.raises(ValueError, match="input_size"):
        evaluation.inception_extractor(missing, input_size=224)


def test_inception_extractor_random_weights_shapes():
    extract = evaluation.inception_extractor(None, input_size=150, batch_size=2)
    features = extract(np.random.default_rng(13).uniform(size=(3, 28, 28)).astype(np.float32))
    assert features.shape == (3, 2048)
    assert np.all(np.isfinite(features))
