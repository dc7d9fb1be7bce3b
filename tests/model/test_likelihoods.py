"""Likelihoods against direct computations, normalisation, stability, sampling, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae import data
from tf_smvae.model import likelihoods
from tf_smvae.util.errors import ConfigError

tfd = tfp.distributions

SHAPE = (4, 3, 2)
BINS = np.arange(256) / 255.0


def _rng(seed=0):
    return np.random.RandomState(seed)


def _logistic_cdf(t):
    return 1.0 / (1.0 + np.exp(-t))


def _numpy_discretized_log_prob(x, loc, scale, num_bins=256):
    """float64 log P(x) by CDF differences; open edge bins."""
    delta = 0.5 / (num_bins - 1)
    upper = np.where(x > 1.0 - delta, 1.0, _logistic_cdf((x + delta - loc) / scale))
    lower = np.where(x < delta, 0.0, _logistic_cdf((x - delta - loc) / scale))
    with np.errstate(divide="ignore"):
        return np.log(upper - lower)


def _bin_log_probs(likelihood, loc):
    """log P(c_k) for all 256 bin centres c_k, for each loc; returns [len(loc), 256]."""
    loc = tf.constant(loc, tf.float32)[:, None, None, None, None, None]
    x = tf.constant(BINS, tf.float32)[:, None, None, None]
    return likelihood.log_prob(loc * tf.ones([1, 256, 1, 1, 1, 1]), x).numpy()


def test_attributes():
    bern = likelihoods.make_likelihood("bernoulli", SHAPE)
    logistic = likelihoods.make_likelihood("discretized_logistic", SHAPE)
    gauss = likelihoods.make_likelihood("gaussian", SHAPE)
    assert [lik.num_params for lik in (bern, logistic, gauss)] == [1, 1, 1]
    assert bern.is_discrete and logistic.is_discrete and not gauss.is_discrete
    assert bern.data_range == logistic.data_range == (0.0, 1.0)
    assert gauss.data_range == (-np.inf, np.inf)
    assert likelihoods.LIKELIHOODS.names() == ["bernoulli", "discretized_logistic", "gaussian"]


def test_one_registration_carries_the_data_scaling_and_the_config_options():
    # The data pipeline's table is the likelihoods' own declaration, entry for entry.
    assert data.LIKELIHOODS.names() == likelihoods.LIKELIHOODS.names()
    for name in likelihoods.LIKELIHOODS.names():
        assert data.LIKELIHOODS.get(name) is likelihoods.LIKELIHOODS.get(name).data_scaling
    options = likelihoods.LIKELIHOODS.get("discretized_logistic").config_options(0.1, True)
    assert options == {"log_scale_init": pytest.approx(0.5 * np.log(0.1)), "learn_scale": True}
    gauss = likelihoods.LIKELIHOODS.get("gaussian").config_options(0.5, False)
    assert gauss == {"variance_init": 0.5, "learn_variance": False}
    assert likelihoods.LIKELIHOODS.get("bernoulli").config_options(0.1, True) == {}
    # A likelihood that does not say how its data are scaled is refused at registration.
    with pytest.raises(TypeError, match="data_scaling"):
        likelihoods.register("no_scaling")(type("NoScaling", (likelihoods._Likelihood,), {}))
    assert "no_scaling" not in likelihoods.LIKELIHOODS.names()


def test_bernoulli_matches_tfd():
    logits = _rng().normal(scale=3.0, size=(5, *SHAPE, 1)).astype(np.float32)
    x = (_rng(1).uniform(size=(5, *SHAPE)) > 0.5).astype(np.float32)
    lik = likelihoods.BernoulliLikelihood(SHAPE)
    expected = tf.reduce_sum(tfd.Bernoulli(logits=logits[..., 0]).log_prob(x), axis=[1, 2, 3])
    np.testing.assert_allclose(lik.log_prob(logits, x), expected, rtol=1e-5)
    # Grey levels: the cross-entropy form.
    grey = _rng(2).uniform(size=(5, *SHAPE))
    p = 1.0 / (1.0 + np.exp(-logits[..., 0].astype(np.float64)))
    direct = np.sum(grey * np.log(p) + (1 - grey) * np.log1p(-p), axis=(1, 2, 3))
    np.testing.assert_allclose(lik.log_prob(logits, grey.astype(np.float32)), direct, rtol=1e-5)
    np.testing.assert_allclose(lik.mean(logits), p, rtol=1e-5)


@pytest.mark.parametrize("log_scale", [-9.0, -5.0, 0.5 * np.log(0.1), 1.5])
def test_discretized_logistic_normalised_and_finite(log_scale):
    lik = likelihoods.DiscretizedLogisticLikelihood((1, 1, 1), log_scale_init=log_scale)
    log_probs = _bin_log_probs(lik, [-5.0, -0.3, 0.0, 0.4, 1.0, 1.2, 6.0])
    assert np.all(np.isfinite(log_probs))
    np.testing.assert_allclose(tf.reduce_logsumexp(log_probs, axis=-1), 0.0, atol=1e-5)


@pytest.mark.parametrize("log_scale", [-4.0, -2.0, 0.5 * np.log(0.1), 0.5])
def test_discretized_logistic_matches_cdf_differences(log_scale):
    lik = likelihoods.DiscretizedLogisticLikelihood((1, 1, 1), log_scale_init=log_scale)
    locs = np.array([-0.2, 0.0, 0.37, 0.5, 1.0, 1.3])
    log_probs = _bin_log_probs(lik, locs)
    expected = _numpy_discretized_log_prob(BINS[None, :], locs[:, None], np.exp(log_scale))
    # Interior and both edge bins, wherever float64 differences are accurate.
    accurate = expected > -30.0
    assert accurate[:, 0].any() and accurate[:, -1].any() and accurate[:, 1:-1].any()
    np.testing.assert_allclose(log_probs[accurate], expected[accurate], rtol=1e-4, atol=2e-5)


def test_discretized_logistic_far_tail_is_finite_and_exact():
    """Far from loc, naive float32 sigmoid differences give log(0); the log-space form does not."""
    scale = np.exp(-4.0)
    lik = likelihoods.DiscretizedLogisticLikelihood((1, 1, 1), log_scale_init=-4.0)
    x = np.array([0.6, 0.8, 200 / 255, 254 / 255, 1.0])
    params = np.zeros((5, 1, 1, 1, 1), np.float32)
    got = lik.log_prob(params, x.reshape(5, 1, 1, 1).astype(np.float32)).numpy()
    delta = 0.5 / 255
    # Upper tail in float64 via survival functions: sigmoid(-b) - sigmoid(-a).
    a, b = (x + delta) / scale, (x - delta) / scale
    expected = np.log(np.where(x > 1 - delta, 0.0, -_logistic_cdf(-a)) + _logistic_cdf(-b))
    assert np.all(np.isfinite(got))
    assert np.all(expected < -20.0)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_discretized_logistic_gradients_finite_and_correct():
    lik = likelihoods.DiscretizedLogisticLikelihood((1, 1, 1), learn_scale=True)
    assert len(lik.trainable_weights) == 1
    locs = tf.constant([-5.0, 0.0, 0.5, 6.0, 0.3])[:, None, None, None, None]
    x = tf.constant([0.0, 1.0, 0.5, 0.0, 0.9])[:, None, None, None]
    for log_scale in [-7.0, -1.0, 2.0]:
        lik.log_scale.assign(log_scale)
        with tf.GradientTape() as tape:
            tape.watch(locs)
            total = tf.reduce_sum(lik.log_prob(locs, x))
        grad_loc, grad_scale = tape.gradient(total, [locs, lik.log_scale])
        assert np.all(np.isfinite(grad_loc)) and np.isfinite(grad_scale)
    # Central finite difference for one interior case.
    lik.log_scale.assign(-1.0)
    loc = tf.constant([[[[[0.3]]]]])
    x = tf.constant([[[[0.9]]]])
    with tf.GradientTape() as tape:
        tape.watch(loc)
        value = lik.log_prob(loc, x)
    eps = 1e-3
    numeric = (lik.log_prob(loc + eps, x) - lik.log_prob(loc - eps, x)) / (2 * eps)
    np.testing.assert_allclose(
        tape.gradient(value, loc)[..., 0], numeric[:, None, None, None], 1e-3
    )


@pytest.mark.parametrize("log_scale", [-3.0, -1.5])
def test_discretized_logistic_mean_close_to_exact(log_scale):
    lik = likelihoods.DiscretizedLogisticLikelihood((1, 1, 1), log_scale_init=log_scale)
    locs = np.array([-0.3, 0.0, 0.2, 0.5, 0.9, 1.4])
    exact = np.exp(_bin_log_probs(lik, locs)) @ BINS
    got = lik.mean(tf.constant(locs, tf.float32)[:, None, None, None, None]).numpy().ravel()
    np.testing.assert_allclose(got, exact, atol=2e-5)


def test_discretized_logistic_samples_on_grid_with_right_mean():
    lik = likelihoods.DiscretizedLogisticLikelihood((1, 1, 1), log_scale_init=-2.0)
    locs = tf.constant([-0.1, 0.3, 0.95])[:, None, None, None, None]
    params = tf.broadcast_to(locs, [3, 1, 1, 1, 1]) * tf.ones([20000, 1, 1, 1, 1, 1])
    samples = lik.sample(params, seed=[3, 4]).numpy()
    assert samples.shape == (20000, 3, 1, 1, 1)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    np.testing.assert_allclose(samples * 255, np.round(samples * 255), atol=1e-3)
    mean = lik.mean(locs).numpy().ravel()
    std_err = samples.reshape(20000, 3).std(axis=0) / np.sqrt(20000)
    assert np.all(np.abs(samples.reshape(20000, 3).mean(axis=0) - mean) < 5 * std_err + 1e-4)
    np.testing.assert_array_equal(samples, lik.sample(params, seed=[3, 4]))


def test_bernoulli_and_gaussian_samples():
    logits = tf.fill([20000, 1, 1, 1, 1], 0.7)
    bern = likelihoods.BernoulliLikelihood((1, 1, 1)).sample(logits, seed=5).numpy()
    assert set(np.unique(bern)) == {0.0, 1.0}
    assert abs(bern.mean() - 1 / (1 + np.exp(-0.7))) < 5 * 0.5 / np.sqrt(20000)
    gauss = likelihoods.GaussianLikelihood((1, 1, 1), variance_init=0.25)
    draws = gauss.sample(logits, seed=6).numpy()
    assert draws.shape == (20000, 1, 1, 1)
    assert abs(draws.mean() - 0.7) < 5 * 0.5 / np.sqrt(20000)
    assert abs(draws.var() - 0.25) < 0.02


@pytest.mark.parametrize("variance_shape", ["shared", "per_pixel"])
def test_gaussian_matches_tfd(variance_shape):
    lik = likelihoods.GaussianLikelihood(
        SHAPE, variance_init=0.3, learn_variance=True, variance_shape=variance_shape
    )
    expected_shape = () if variance_shape == "shared" else SHAPE
    assert lik.unconstrained_variance.shape == expected_shape
    assert len(lik.trainable_weights) == 1
    np.testing.assert_allclose(lik.variance, 0.3 * np.ones(expected_shape), rtol=1e-5)
    lik.unconstrained_variance.assign(_rng().normal(size=expected_shape))
    variance = tf.math.softplus(lik.unconstrained_variance).numpy()
    mean = _rng(1).normal(size=(5, *SHAPE, 1)).astype(np.float32)
    x = _rng(2).normal(size=(5, *SHAPE)).astype(np.float32)
    expected = tf.reduce_sum(
        tfd.Normal(mean[..., 0], np.sqrt(variance)).log_prob(x), axis=[1, 2, 3]
    )
    np.testing.assert_allclose(lik.log_prob(mean, x), expected, rtol=1e-5)
    np.testing.assert_array_equal(lik.mean(mean), mean[..., 0])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(lik.log_prob(mean, x))
    assert np.all(np.isfinite(tape.gradient(total, lik.unconstrained_variance)))


def test_fixed_parameters_are_not_trainable():
    assert not likelihoods.GaussianLikelihood(SHAPE).trainable_weights
    assert not likelihoods.DiscretizedLogisticLikelihood(SHAPE).trainable_weights
    lik = likelihoods.DiscretizedLogisticLikelihood(
        SHAPE, learn_scale=True, scale_shape="per_pixel"
    )
    assert lik.trainable_weights[0].shape == SHAPE


@pytest.mark.parametrize("name", ["bernoulli", "discretized_logistic", "gaussian"])
def test_broadcasting_over_leading_dims(name):
    lik = likelihoods.make_likelihood(name, SHAPE)
    params = _rng().normal(size=(3, 5, *SHAPE, 1)).astype(np.float32)
    x = np.round(_rng(1).uniform(size=(5, *SHAPE)) * 255) / 255
    x = x.astype(np.float32)
    got = lik.log_prob(params, x)
    assert got.shape == (3, 5)
    for s in range(3):
        np.testing.assert_allclose(got[s], lik.log_prob(params[s], x), rtol=1e-6)
    assert lik.mean(params).shape == (3, 5, *SHAPE)
    assert lik.sample(params, seed=1).shape == (3, 5, *SHAPE)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("bernoulli", {}),
        ("discretized_logistic", {"learn_scale": True, "scale_shape": "per_pixel"}),
        ("gaussian", {"learn_variance": True, "variance_init": 0.5}),
    ],
)
def test_config_and_serialization_round_trip(name, kwargs):
    lik = likelihoods.make_likelihood(name, SHAPE, **kwargs)
    for weight in lik.weights:
        weight.assign(_rng().normal(size=weight.shape))
    params = _rng(1).normal(size=(2, *SHAPE, 1)).astype(np.float32)
    x = (_rng(2).uniform(size=(2, *SHAPE)) > 0.5).astype(np.float32)
    rebuilt = type(lik).from_config(lik.get_config())
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(lik))
    for other in (rebuilt, restored):
        assert type(other) is type(lik) and other.get_config() == lik.get_config()
        assert len(other.trainable_weights) == len(lik.trainable_weights)
        other.set_weights(lik.get_weights())
        np.testing.assert_array_equal(other.log_prob(params, x), lik.log_prob(params, x))


@pytest.mark.parametrize("name", ["bernoulli", "discretized_logistic", "gaussian"])
def test_xla_matches_eager(name):
    lik = likelihoods.make_likelihood(name, SHAPE)
    params = tf.constant(_rng().normal(size=(2, *SHAPE, 1)), tf.float32)
    x = tf.constant(np.round(_rng(1).uniform(size=(2, *SHAPE)) * 255) / 255, tf.float32)
    compiled = tf.function(lik.log_prob, jit_compile=True)
    np.testing.assert_allclose(compiled(params, x), lik.log_prob(params, x), rtol=1e-5)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="known"):
        likelihoods.make_likelihood("poisson", SHAPE)
    with pytest.raises(ConfigError, match="scale_shape"):
        likelihoods.make_likelihood("discretized_logistic", SHAPE, scale_shape="per_row")
    with pytest.raises(ConfigError, match="variance_shape"):
        likelihoods.make_likelihood("gaussian", SHAPE, variance_shape="diag")
    with pytest.raises(ConfigError, match="variance_init"):
        likelihoods.make_likelihood("gaussian", SHAPE, variance_init=0.0)
    with pytest.raises(ConfigError, match="num_bins"):
        likelihoods.make_likelihood("discretized_logistic", SHAPE, num_bins=1)
    with pytest.raises(ConfigError, match="event_shape"):
        likelihoods.make_likelihood("bernoulli", (28, 0))
