"""The VAE: ELBO maths, compiled training, serialization, methods, seeded replay."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tests.linear_model import LinearGaussianCase

_SMALL = {"hidden_units": (16,)}


def _binary_images(num=64, shape=(28, 28, 1), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((num,) + shape) > 0.7).astype(np.float32)


def _model(**kwargs):
    kwargs.setdefault("network_kwargs", _SMALL)
    return tf_smvae.VAE((28, 28, 1), 4, **kwargs)


def test_expected_reconstruction_matches_closed_form():
    # Linear decoder, Gaussian likelihood: E_q[log p(x|z)] =
    #   -D/2 log(2 pi s^2) - (||x - W mu - b||^2 + sum_j sigma_j^2 ||W_j||^2) / (2 s^2).
    case = LinearGaussianCase(num_points=4)
    model = case.model()
    loc, scale = (t.numpy() for t in model.encode(case.x))
    x = case.x.reshape(4, -1)
    residual = x - loc @ case.weight.T - case.bias
    expected = -0.5 * case.data_dim * np.log(2 * np.pi * case.noise_var) - (
        np.sum(residual**2, 1) + (scale**2) @ np.sum(case.weight**2, 0)
    ) / (2 * case.noise_var)
    # 5000 draws per example in one batch; one draw's standard deviation is ~4.6 here,
    # so the Monte-Carlo standard error is ~0.065 and 0.3 is over 4 of them.
    tiled = np.tile(case.x, (5000, 1, 1, 1))
    draws = model.elbo_terms(tiled, tf.constant([0, 1]))["reconstruction"].numpy()
    np.testing.assert_allclose(draws.reshape(5000, 4).mean(0), expected, atol=0.3)


def test_analytic_kl_equals_monte_carlo_kl():
    keras.utils.set_random_seed(0)
    model = _model(analytic_kl=True)
    sampled = _model(analytic_kl=False)
    sampled.set_weights(model.get_weights())
    x = _binary_images(8)
    analytic = model.elbo_terms(x, tf.constant([0, 1]))["kl"].numpy()
    loc, scale = (t.numpy() for t in model.encode(x))
    closed_form = 0.5 * np.sum(loc**2 + scale**2 - 1.0 - 2.0 * np.log(scale), axis=1)
    np.testing.assert_allclose(analytic, closed_form, rtol=1e-4, atol=1e-5)
    # The one-sample KL is unbiased: its mean over 5000 draws is within 5 standard errors.
    num = 5000
    tiled = np.tile(x, (num, 1, 1, 1))
    draws = sampled.elbo_terms(tiled, tf.constant([1, 2]))["kl"].numpy().reshape(num, 8)
    standard_error = draws.std(0) / np.sqrt(num)
    assert np.all(np.abs(draws.mean(0) - closed_form) < 5 * standard_error + 1e-3)


@pytest.mark.parametrize("prior", ["standard_normal", "mog", "vamp"])
def test_compiled_fit_reduces_loss_and_tracks_metrics(prior):
    prior_kwargs = {} if prior == "standard_normal" else {"num_components": 3}
    model = _model(prior=prior, prior_kwargs=prior_kwargs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    x = _binary_images(200)
    history = model.fit(x, epochs=3, batch_size=50, verbose=0).history
    assert set(history) == {"loss", "elbo", "reconstruction", "kl"}
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_allclose(history["elbo"], -np.asarray(history["loss"]), rtol=1e-5)
    evaluation = model.evaluate(x, batch_size=50, verbose=0, return_dict=True)
    assert np.isfinite(evaluation["elbo"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prior": "vamp", "prior_kwargs": {"num_components": 4}},
        {"prior": "mog", "likelihood": "discretized_logistic"},
        {"likelihood": "gaussian", "network": "conv", "network_kwargs": {}},
    ],
)
def test_keras_file_round_trip_gives_identical_outputs(kwargs, tmp_path):
    model = _model(**kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = _binary_images(20)
    model.fit(x, epochs=1, batch_size=10, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.reconstruct(x[:5]), model.reconstruct(x[:5]))
    np.testing.assert_array_equal(loaded.sample(4, seed=2), model.sample(4, seed=2))
    np.testing.assert_array_equal(
        loaded.log_joint(x[:3], tf.zeros([3, 4])), model.log_joint(x[:3], tf.zeros([3, 4]))
    )
    assert loaded.optimizer.iterations.numpy() == model.optimizer.iterations.numpy()


def test_get_config_round_trip():
    model = _model(prior="mog", prior_kwargs={"num_components": 2})
    clone = tf_smvae.VAE.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = _binary_images(3)
    np.testing.assert_array_equal(clone.reconstruct(x), model.reconstruct(x))
    assert clone.get_config() == model.get_config()


def test_methods_shapes_ranges_and_seeding():
    model = _model()
    x = _binary_images(5)
    loc, scale = model.encode(x)
    assert loc.shape == scale.shape == (5, 4)
    assert np.all(scale.numpy() > 0)
    assert model.decode(loc).shape == (5, 28, 28, 1)
    reconstruction = model.reconstruct(x).numpy()
    assert reconstruction.min() >= 0.0 and reconstruction.max() <= 1.0
    np.testing.assert_array_equal(model.sample(6, seed=1), model.sample(6, seed=1))
    assert not np.array_equal(model.sample(6, seed=1), model.sample(6, seed=2))
    # log_joint broadcasts particles [S, B, d] against images [B, ...].
    assert model.log_joint(x, tf.zeros([7, 5, 4])).shape == (7, 5)


def test_seeded_training_replays_exactly():
    def train():
        keras.utils.set_random_seed(4)
        model = _model(seed=4)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
        model.fit(_binary_images(60), epochs=1, batch_size=20, shuffle=False, verbose=0)
        return model.get_weights()

    for first, second in zip(train(), train()):
        np.testing.assert_array_equal(first, second)


def test_training_draws_fresh_noise_each_step():
    model = _model()
    first, second = model.next_seed("a"), model.next_seed("a")
    assert not np.array_equal(first, second)
