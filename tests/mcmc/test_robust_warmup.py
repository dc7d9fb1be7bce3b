"""The warm-up's precision estimate and its restart of stuck chains (issue 14)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.mcmc.gaussians import make_gaussian
from tf_smvae import mcmc
from tf_smvae.mcmc import precision
from tf_smvae.util.errors import ConfigError


def _empty_moments(num_groups, num_dims, dtype):
    zeros = [tf.zeros([num_groups, num_dims], dtype), tf.zeros([num_dims, num_dims], dtype)]
    return precision.PooledMoments(tf.zeros([], dtype), *zeros * 2)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("num_groups", [1, 16])
def test_pooled_moments_equal_the_moments_of_all_steps_at_once(num_groups, dtype):
    rng = np.random.default_rng(0)
    # 5 steps of 16 chains, each chain about its own mean.
    states, grads = rng.normal(size=(2, 5, 16, 3)) * [1.0, 10.0, 0.1] + rng.normal(size=(16, 3))
    moments = _empty_moments(num_groups, 3, dtype)
    for x, g in zip(states, grads):
        moments = precision.pooled_update(moments, tf.constant(x, dtype), tf.constant(g, dtype))
    axes = (0,) if num_groups == 16 else (0, 1)  # a mean per chain, or one for all
    means = states.mean(axes, keepdims=True)
    x, g = states - means, grads - grads.mean(axes, keepdims=True)
    rtol = 1e-5 if dtype == tf.float32 else 1e-12
    np.testing.assert_allclose(moments.count.numpy(), 5 if num_groups == 16 else 80)
    np.testing.assert_allclose(moments.mean.numpy(), means[0], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(moments.m2.numpy(), np.einsum("tia,tib->ab", x, x), rtol=rtol)
    cross = np.einsum("tia,tib->ab", g, x)
    np.testing.assert_allclose(moments.cross.numpy(), cross, rtol=rtol, atol=10 * rtol)


@pytest.mark.parametrize("spread", [1e-2, 1.0])
@pytest.mark.parametrize("num_groups", [1, 32])
def test_precision_estimate_recovers_a_gaussian_covariance_however_little_the_chains_spread(
    spread, num_groups
):
    # For a Gaussian, g = -Sigma^-1 (x - mu) exactly, so the regression of g on x returns
    # Sigma^-1 from states clustered anywhere (here far from the mean, at 1 % of its sd),
    # from chains spread or not across the space, pooled about one mean or their own.
    target = make_gaussian(8, 4.0, seed=3, dtype=tf.float64)
    rng = np.random.default_rng(1)
    centre = target.mean + 5.0 * np.sqrt(np.diag(target.covariance)) * rng.normal(size=(32, 8))
    moments = _empty_moments(num_groups, 8, tf.float64)
    for _ in range(10):
        x = tf.constant(centre + spread * rng.normal(size=(32, 8)))
        with tf.GradientTape() as tape:
            tape.watch(x)
            log_prob = target.log_prob(x)
        moments = precision.pooled_update(moments, x, tape.gradient(log_prob, x))
    scale_tril = precision.scale_from_moments(moments).numpy()
    # rtol 1e-5: the estimate's ridge (1e-6 of the mean variance of x) biases it slightly.
    chol = np.linalg.cholesky(target.covariance)
    np.testing.assert_allclose(scale_tril, chol, rtol=1e-5, atol=1e-5 * np.abs(chol).max())


def test_precision_estimate_floors_a_non_log_concave_direction():
    # g = +x in the first coordinate (log p = x_0^2 / 2 there): no precision; the estimate
    # stays a valid (finite, positive definite) scale.
    moments = _empty_moments(1, 2, tf.float64)
    for x in np.random.default_rng(2).normal(size=(3, 64, 2)):
        moments = precision.pooled_update(moments, tf.constant(x), x * [1.0, -4.0])
    scale_tril = precision.scale_from_moments(moments).numpy()
    assert np.all(np.isfinite(scale_tril)) and np.all(np.diag(scale_tril) > 0)
    np.testing.assert_allclose(scale_tril[1, 1], 0.5, rtol=0.05)  # the Gaussian direction


def _steep_start_target():
    """N(0, I_4) in z, but the chains with z_0 < 0 start in a region 10^6 times steeper:
    log p = -z^2/2 - 1e6 relu(-z_0)^2 / 2 (a scale parameter deep in its tail)."""

    def log_prob(state):
        steep = tf.nn.relu(-state[..., 0])
        return -0.5 * tf.reduce_sum(tf.square(state), -1) - 5e5 * tf.square(steep)

    return log_prob


@pytest.mark.parametrize("restart_stuck_after", [50, 0])
def test_stuck_chains_are_restarted_from_moving_chains(restart_stuck_after):
    start = tf.constant(
        np.concatenate([np.full((8, 1), -3.0), np.zeros((8, 3))], 1).tolist()
        + np.random.default_rng(0).uniform(0.5, 2.0, (24, 4)).tolist(),
        tf.float32,
    )
    inner = mcmc.PreconditionedMALA(_steep_start_target(), step_size=0.5)
    kernel = mcmc.SpeedMeasureAdaptation(
        inner,
        400,
        preconditioner="diag",
        search_step_size=False,
        estimate_covariance=False,
        restart_stuck_after=restart_stuck_after,
    )
    state, results, trace = mcmc.adapt._run_warmup(kernel, start, 400, tf.constant([3, 4]), True)
    restarts = trace[_TRACE_INDEX["num_restarts"]].numpy()
    stuck_left = np.sum(state.numpy()[:, 0] < -2.9)
    if restart_stuck_after:
        assert restarts.sum() >= 8 and restarts[200:].sum() == 0  # only in the first half
        assert stuck_left == 0
        assert np.all(results.rejections_in_a_row.numpy() < 50)
    else:
        assert restarts.sum() == 0
        assert stuck_left == 8  # h ~ 0.5 cannot move a chain where the target is 1e6 steeper


_TRACE_INDEX = {name: i for i, name in enumerate(mcmc.adapt._TRACE_FIELDS)}


def test_bad_options_are_named():
    inner = mcmc.PreconditionedMALA(_steep_start_target(), step_size=0.5)
    with pytest.raises(ConfigError, match="restart_stuck_after"):
        mcmc.SpeedMeasureAdaptation(inner, 100, restart_stuck_after=-1)
    with pytest.raises(ConfigError, match="estimate_covariance"):
        mcmc.SpeedMeasureAdaptation(inner, 100, estimate_covariance="pooled")


def _badly_scaled_regression(dtype=tf.float32):
    """Linear regression with coefficient posteriors of sd ~ 1e-2 .. 1e2 and strongly
    correlated features, plus a log noise scale, flat priors (d = 6)."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(300, 5))
    base[:, 1] = base[:, 0] + 0.05 * base[:, 1]  # two nearly collinear features
    x = base * np.array([100.0, 100.0, 1.0, 0.1, 0.01])
    y = x @ np.array([0.3, -0.2, 5.0, 20.0, 300.0]) + 40.0 + 2.0 * rng.normal(size=300)
    x_t, y_t = tf.constant(x, dtype), tf.constant(y, dtype)

    def log_prob(state):
        beta, log_sigma = state[..., :5], state[..., 5]
        residual = y_t - tf.linalg.matmul(beta, x_t, transpose_b=True) - 40.0
        return -300.0 * log_sigma - 0.5 * tf.reduce_sum(tf.square(residual), -1) * tf.exp(
            -2.0 * log_sigma
        )

    sigma2 = 4.0
    covariance = sigma2 * np.linalg.inv(x.T @ x)
    return log_prob, np.sqrt(np.diag(covariance))


@pytest.mark.slow
@pytest.mark.parametrize("estimate_covariance", [True, False])
def test_estimated_precision_learns_the_scales_of_a_badly_scaled_posterior(estimate_covariance):
    log_prob, sd = _badly_scaled_regression()
    start = tf.constant(np.random.default_rng(6).uniform(-2, 2, (64, 6)), tf.float32)
    result = mcmc.adapt_kernel(
        log_prob,
        start,
        preconditioner="tril",
        # From a cold start the chains need ~1000 steps to reach this posterior (log sigma
        # starts up to 2 nats too high, where the coefficients are 7x wider): 600 or 1000
        # steps leave C estimated from the transient.
        num_adaptation_steps=2000,
        estimate_covariance=estimate_covariance,
        seed=6,
    )
    scale = result.step_size.numpy() * np.linalg.norm(result.scale_tril.numpy(), axis=1)[:5]
    ratio = scale / sd  # MALA's h C row norms against the posterior sd, per coefficient
    spread = ratio.max() / ratio.min()
    if estimate_covariance:
        assert spread < 2.0, ratio  # one step size fits every coefficient
    else:
        assert spread > 10.0, ratio  # gradient steps from C = I do not get there in time
