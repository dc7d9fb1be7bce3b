"""Tests of the log|det(I - xi C^T Hess U C)| estimators."""

import numpy as np
import pytest
import tensorflow as tf

from tf_smvae import mcmc

NUM_DIMS = 5


@pytest.fixture(scope="module")
def problem():
    """A Gaussian target (Hess U = A), a tril C and xi with B's eigenvalues in (0.04, 0.33)."""
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(NUM_DIMS, NUM_DIMS))
    precision = factor @ factor.T / NUM_DIMS + np.eye(NUM_DIMS)
    scale_tril = np.tril(0.3 * rng.normal(size=(NUM_DIMS, NUM_DIMS)), -1) + np.eye(NUM_DIMS)
    precision_t = tf.constant(precision)

    def log_prob(state):
        return -0.5 * tf.reduce_sum(state * tf.linalg.matvec(precision_t, state), -1)

    return precision, scale_tril, 0.05, log_prob


def _exact_value_and_grads(precision, scale_tril, scale_factor):
    b = scale_factor * scale_tril.T @ precision @ scale_tril
    inverse = np.linalg.inv(np.eye(NUM_DIMS) - b)
    value = np.linalg.slogdet(np.eye(NUM_DIMS) - b)[1]
    grad_factor = -np.trace(inverse @ scale_tril.T @ precision @ scale_tril)
    grad_scale = -2.0 * scale_factor * precision @ scale_tril @ inverse
    return value, grad_factor, np.tril(grad_scale)


def _estimate(name, problem, num_chains, seed, **options):
    precision, scale_tril, scale_factor, log_prob = problem
    factor = tf.Variable(scale_factor, dtype=tf.float64)
    unconstrained = tf.Variable(scale_tril)
    state = tf.random.stateless_normal([num_chains, NUM_DIMS], seed=[0, 3], dtype=tf.float64)
    with tf.GradientTape() as tape:
        estimator = mcmc.LOG_DET_ESTIMATORS.get(name)
        result = estimator(
            log_prob, state, factor, tf.linalg.band_part(unconstrained, -1, 0), seed, **options
        )
        mean = tf.reduce_mean(result.log_det)
    grads = tape.gradient(mean, [factor, unconstrained])
    return result, grads


@pytest.mark.parametrize("name", ["exact", "auto"])
def test_exact_matches_slogdet(problem, name):
    precision, scale_tril, scale_factor, _ = problem
    result, (grad_factor, grad_scale) = _estimate(name, problem, 3, [1, 1])
    value, true_grad_factor, true_grad_scale = _exact_value_and_grads(
        precision, scale_tril, scale_factor
    )
    np.testing.assert_allclose(result.log_det.numpy(), value, rtol=1e-10)
    np.testing.assert_allclose(grad_factor.numpy(), true_grad_factor, rtol=1e-8)
    np.testing.assert_allclose(grad_scale.numpy(), true_grad_scale, rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(result.penalty.numpy(), 0.0)


@pytest.mark.slow
def test_stochastic_is_unbiased_in_value_and_gradient(problem):
    # Every chain uses its own probe and truncation: the mean over N chains is a mean of N
    # independent estimates; the tolerance is 5 standard errors of that mean.
    precision, scale_tril, scale_factor, _ = problem
    num_chains = 20000
    result, (grad_factor, grad_scale) = _estimate("stochastic", problem, num_chains, [4, 5])
    value, true_grad_factor, true_grad_scale = _exact_value_and_grads(
        precision, scale_tril, scale_factor
    )
    estimates = result.log_det.numpy()
    assert abs(estimates.mean() - value) < 5.0 * estimates.std() / np.sqrt(num_chains)
    # Gradient standard errors from 20 independent batches of 1000 chains.
    per_batch = [_estimate("stochastic", problem, 1000, [7, i])[1] for i in range(20)]
    factor_se = np.std([g[0].numpy() for g in per_batch]) / np.sqrt(num_chains / 1000)
    scale_se = np.std([g[1].numpy() for g in per_batch], axis=0) / np.sqrt(num_chains / 1000)
    assert abs(grad_factor.numpy() - true_grad_factor) < 5.0 * factor_se
    lower = np.tril_indices(NUM_DIMS)
    error = np.abs(grad_scale.numpy() - true_grad_scale)[lower] / (scale_se[lower] + 1e-12)
    assert error.max() < 5.0
    # Biased series (e.g. doubled weights for k >= 2, or no roulette weights) miss by far more.
    assert abs(estimates.mean() - value) < 0.02


def test_stochastic_options_and_penalty(problem):
    precision, scale_tril, scale_factor, log_prob = problem
    state = tf.zeros([4, NUM_DIMS], tf.float64)
    plain = mcmc.stochastic_log_det(log_prob, state, scale_factor, scale_tril, [1, 2])
    np.testing.assert_array_equal(plain.penalty.numpy(), 0.0)
    penalised = mcmc.stochastic_log_det(
        log_prob,
        state,
        10.0 * scale_factor,
        scale_tril,
        [1, 2],
        spectral_penalty=1.0,
        spectral_bound=0.5,
    )
    top = np.linalg.eigvalsh(10.0 * scale_factor * scale_tril.T @ precision @ scale_tril).max()
    assert top > 0.5 and np.all(penalised.penalty.numpy() > 0.0)
    with pytest.raises(ValueError):
        mcmc.stochastic_log_det(log_prob, state, scale_factor, None, [1, 2], continue_prob=1.0)


def test_stochastic_safeguards_when_the_series_diverges(problem):
    # xi 100x the fixture's puts every eigenvalue of B in (4, 33): the Neumann series
    # diverges for every chain. Its log-det must then carry no gradient (only finite noise
    # of size rho^n otherwise), and the penalty must be positive, at most its value at the
    # true spectral radius (the Rayleigh quotient is a lower bound), and push xi down.
    precision, scale_tril, scale_factor, _ = problem
    factor = 100.0 * scale_factor
    spectrum = np.linalg.eigvalsh(factor * scale_tril.T @ precision @ scale_tril)
    assert spectrum.min() > 1.0
    result, (grad_factor, grad_scale) = _estimate(
        "stochastic", (precision, scale_tril, factor, problem[3]), 64, [2, 9]
    )
    assert np.all(np.isfinite(result.log_det.numpy()))
    assert grad_factor.numpy() == 0.0 and np.all(grad_scale.numpy() == 0.0)
    penalty = result.penalty.numpy()
    bound = 10.0 * NUM_DIMS * (spectrum.max() - 0.9) ** 2
    assert np.all(penalty > 0.0) and np.all(penalty <= bound * (1 + 1e-9))
    variable = tf.Variable(factor, dtype=tf.float64)
    state = tf.zeros([8, NUM_DIMS], tf.float64)
    with tf.GradientTape() as tape:
        penalised = mcmc.stochastic_log_det(problem[3], state, variable, scale_tril, [3, 4])
        total = tf.reduce_sum(penalised.penalty)
    assert tape.gradient(total, variable).numpy() > 0.0


def test_potential_hessian_and_hvp(problem):
    precision, _, _, log_prob = problem
    state = tf.random.stateless_normal([3, NUM_DIMS], seed=[1, 2], dtype=tf.float64)
    hessian = mcmc.potential_hessian(log_prob, state)
    np.testing.assert_allclose(hessian.numpy(), np.broadcast_to(precision, [3, 5, 5]), rtol=1e-12)
    vector = tf.ones([3, NUM_DIMS], tf.float64)
    product = mcmc.hessian_vector_product(log_prob, state, vector)
    np.testing.assert_allclose(product.numpy(), np.ones([3, 5]) @ precision, rtol=1e-12)


@pytest.mark.parametrize("num_dims", [4, mcmc.log_det.AUTO_EXACT_MAX_DIMS + 1])
def test_auto_switches_to_stochastic_above_its_threshold(num_dims):
    def log_prob(state):
        return -0.5 * tf.reduce_sum(tf.square(state), -1)

    state = tf.random.stateless_normal([2, num_dims], seed=[0, 1], dtype=tf.float64)
    expected = "exact" if num_dims <= mcmc.log_det.AUTO_EXACT_MAX_DIMS else "stochastic"
    outputs = {}
    for name in ("auto", expected):
        result = mcmc.LOG_DET_ESTIMATORS.get(name)(log_prob, state, 0.1, None, [3, 4])
        outputs[name] = result.log_det.numpy()
    np.testing.assert_array_equal(outputs["auto"], outputs[expected])
    # With Hess U = I and C = I the exact value is d log(1 - xi).
    if expected == "exact":
        np.testing.assert_allclose(outputs["auto"], num_dims * np.log(0.9), rtol=1e-12)
