"""Tests of the preconditioned MALA and HMC kernels."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae import mcmc
from tf_smvae.mcmc import _scale

NUM_CHAINS = 10000


def _preconditioner(kind, covariance, dtype=tf.float32):
    if kind == "identity":
        return None
    if kind == "diag":
        return tf.constant(np.sqrt(np.diag(covariance)), dtype)
    return tf.constant(np.linalg.cholesky(covariance), dtype)


# Step sizes giving acceptance rates between about 0.55 and 0.92.
CALIBRATION_CASES = [
    ("mala", 1, "identity", 0.65),
    ("mala", 1, "diag", 0.65),
    ("mala", 1, "tril", 1.17),
    ("hmc", 1, "tril", 1.17),
    ("hmc", 3, "identity", 0.52),
    ("hmc", 3, "diag", 0.52),
    ("hmc", 3, "tril", 0.78),
]


@pytest.mark.slow
@pytest.mark.parametrize("kernel,num_leapfrog_steps,preconditioner,step_size", CALIBRATION_CASES)
def test_calibration_on_correlated_gaussian(
    gaussian10, kernel, num_leapfrog_steps, preconditioner, step_size
):
    # N = 10000 independent chains started 3 standard deviations off, 300 transitions; the
    # end points are (nearly) independent exact draws, so the Monte-Carlo standard error of a
    # mean is sqrt(Sigma_ii / N), of a covariance sqrt((Sigma_ii Sigma_jj + Sigma_ij^2) / N)
    # and of the mean squared Mahalanobis distance (expected d) sqrt(2 d / N). Tolerance: 5
    # standard errors (66 comparisons). A 10% error in the MH correction moves the Mahalanobis
    # statistic by 4 to 40 standard errors at these step sizes.
    target = gaussian10
    scale_tril = _preconditioner(preconditioner, target.covariance)
    initial = tf.constant(target.mean + 3.0 * np.sqrt(np.diag(target.covariance)), tf.float32)
    initial = tf.tile(initial[tf.newaxis], [NUM_CHAINS, 1])
    run = tf.function(
        lambda: mcmc.run_chain(
            target.log_prob,
            initial,
            tf.constant(step_size),
            scale_tril,
            num_steps=300,
            kernel=kernel,
            num_leapfrog_steps=num_leapfrog_steps,
            seed=tf.constant([4, 2]),
        )
    )
    results = run()
    samples = results.final_state.numpy().astype(np.float64)
    variances = np.diag(target.covariance)
    mean_error = np.abs(samples.mean(0) - target.mean) / np.sqrt(variances / NUM_CHAINS)
    cov_se = np.sqrt((np.outer(variances, variances) + target.covariance**2) / NUM_CHAINS)
    cov_error = np.abs(np.cov(samples.T) - target.covariance) / cov_se
    centred = samples - target.mean
    mahalanobis = np.sum(centred @ target.precision * centred, axis=-1).mean()
    assert 0.5 < results.accept_prob.numpy() < 0.95
    assert int(results.num_nonfinite) == 0
    assert mean_error.max() < 5.0
    assert cov_error.max() < 5.0
    assert abs(mahalanobis - 10.0) < 5.0 * np.sqrt(20.0 / NUM_CHAINS)


def _quartic_target(precision):
    precision = tf.constant(precision)

    def log_prob(state):
        quadratic = tf.reduce_sum(state * tf.linalg.matvec(precision, state), -1)
        return -0.5 * quadratic - 0.1 * tf.reduce_sum(state**4, -1)

    def potential_grad(q):
        return precision.numpy() @ q + 0.4 * q**3

    return log_prob, potential_grad


@pytest.mark.parametrize("preconditioner", ["identity", "diag", "tril"])
def test_hmc_closed_form_endpoint_equals_leapfrog(preconditioner):
    rng = np.random.default_rng(1)
    num_dims, num_steps, step_size = 4, 5, 0.15
    covariance = np.cov(rng.normal(size=(num_dims, 3 * num_dims))) + 0.5 * np.eye(num_dims)
    log_prob, potential_grad = _quartic_target(np.linalg.inv(covariance))
    scale_tril = _preconditioner(preconditioner, covariance, tf.float64)
    state = tf.constant(rng.normal(size=(3, num_dims)))
    kernel = mcmc.PreconditionedHMC(log_prob, step_size, scale_tril, num_steps)
    _, results = kernel.one_step(state, kernel.bootstrap_results(state), seed=[3, 4])
    dense = _scale.to_dense(scale_tril, num_dims, tf.float64).numpy()
    inverse_mass = dense @ dense.T
    potential = lambda q: -log_prob(tf.constant(q[None]))[0].numpy()  # noqa: E731
    for chain in range(3):
        q = state.numpy()[chain]
        v = results.proposed_results.momentum.numpy()[chain]
        p = np.linalg.solve(dense.T, v)  # p_0 = C^{-T} v
        start_energy = potential(q) + 0.5 * p @ inverse_mass @ p
        for _ in range(num_steps):
            p = p - 0.5 * step_size * potential_grad(q)
            q = q + step_size * inverse_mass @ p
            p = p - 0.5 * step_size * potential_grad(q)
        end_energy = potential(q) + 0.5 * p @ inverse_mass @ p
        np.testing.assert_allclose(results.proposed_state.numpy()[chain], q, rtol=1e-10)
        np.testing.assert_allclose(
            results.log_accept_ratio.numpy()[chain], start_energy - end_energy, atol=1e-9
        )


def test_mala_energy_error_matches_gaussian_hand_computation(gaussian10):
    target = gaussian10
    rng = np.random.default_rng(2)
    scale = np.linalg.cholesky(target.covariance) @ np.diag(rng.uniform(0.5, 1.5, 10))
    step_size = 0.7
    state = rng.normal(size=(5, 10))
    kernel = mcmc.PreconditionedMALA(
        lambda z: tf.cast(target.log_prob(tf.cast(z, tf.float32)), tf.float64),
        step_size,
        tf.constant(scale),
    )
    state_t = tf.constant(state)
    _, results = kernel.one_step(state_t, kernel.bootstrap_results(state_t), seed=[5, 6])
    noise = results.proposed_results.momentum.numpy()
    grad_u = lambda z: (z - target.mean) @ target.precision  # noqa: E731
    u = lambda z: 0.5 * np.sum((z - target.mean) @ target.precision * (z - target.mean), -1)  # noqa: E731
    inv_mass = scale @ scale.T
    proposal = state - 0.5 * step_size**2 * grad_u(state) @ inv_mass + step_size * noise @ scale.T
    kick = noise - 0.5 * step_size * (grad_u(state) + grad_u(proposal)) @ scale
    delta = u(proposal) - u(state) - 0.5 * np.sum(noise**2, -1) + 0.5 * np.sum(kick**2, -1)

    # The same ratio from the proposal densities q(z'|z) = N(z - h^2/2 M^-1 grad U, h^2 M^-1).
    def log_q(to, frm):
        diff = to - (frm - 0.5 * step_size**2 * grad_u(frm) @ inv_mass)
        return -0.5 * np.sum(diff @ np.linalg.inv(step_size**2 * inv_mass) * diff, -1)

    mh_ratio = -u(proposal) + u(state) + log_q(state, proposal) - log_q(proposal, state)
    np.testing.assert_allclose(results.proposed_state.numpy(), proposal, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(results.log_accept_ratio.numpy(), -delta, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(-delta, mh_ratio, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("preconditioner", ["identity", "diag", "tril"])
def test_hmc_with_one_leapfrog_step_is_mala(gaussian10, preconditioner):
    scale_tril = _preconditioner(preconditioner, gaussian10.covariance)
    state = tf.random.stateless_normal([8, 10], seed=[0, 1])
    mala = mcmc.PreconditionedMALA(gaussian10.log_prob, 0.8, scale_tril)
    hmc = mcmc.PreconditionedHMC(gaussian10.log_prob, 0.8, scale_tril, num_leapfrog_steps=1)
    mala_state, mala_results = mala.one_step(state, mala.bootstrap_results(state), seed=[7, 8])
    hmc_state, hmc_results = hmc.one_step(state, hmc.bootstrap_results(state), seed=[7, 8])
    np.testing.assert_array_equal(mala_results.proposed_state, hmc_results.proposed_state)
    np.testing.assert_array_equal(mala_results.log_accept_ratio, hmc_results.log_accept_ratio)
    np.testing.assert_array_equal(mala_state, hmc_state)


def log_prob_with_holes(state):
    """Standard normal, but NaN for z_0 > 1 and +inf for z_0 < -1."""
    holes = tf.where(state[..., 0] > 1.0, np.nan, tf.where(state[..., 0] < -1.0, np.inf, 0.0))
    return -0.5 * tf.reduce_sum(state**2, -1) + tf.cast(holes, state.dtype)


@pytest.mark.parametrize("kernel_name,num_leapfrog_steps", [("mala", 1), ("hmc", 3)])
def test_nonfinite_proposals_are_rejected(kernel_name, num_leapfrog_steps):
    state = tf.concat([tf.fill([64, 1], 0.9), tf.zeros([64, 2])], axis=1)
    kernel = mcmc.make_kernel(kernel_name, log_prob_with_holes, 0.6, None, num_leapfrog_steps)
    next_state, results = kernel.one_step(state, kernel.bootstrap_results(state), seed=[1, 1])
    bad = results.proposed_results.is_nonfinite.numpy()
    assert bad.any() and not bad.all()
    assert np.all(results.log_accept_ratio.numpy()[bad] == -np.inf)
    assert not np.isnan(results.log_accept_ratio.numpy()).any()
    assert not results.is_accepted.numpy()[bad].any()
    assert np.isfinite(next_state.numpy()).all()
    assert np.isfinite(results.accepted_results.target_log_prob.numpy()).all()


def test_seeded_replay_and_sample_chain(gaussian10):
    kernel = mcmc.PreconditionedHMC(gaussian10.log_prob, 0.4, None, num_leapfrog_steps=2)
    state = tf.random.stateless_normal([16, 10], seed=[0, 2])
    first = kernel.bootstrap_results(state)
    next_state, results = kernel.one_step(state, first, seed=[9, 9])
    replay_state, replay = kernel.one_step(state, first, seed=results.seed)
    np.testing.assert_array_equal(next_state, replay_state)
    np.testing.assert_array_equal(results.log_accept_ratio, replay.log_accept_ratio)
    other_state, _ = kernel.one_step(state, first, seed=[9, 10])
    assert not np.array_equal(next_state, other_state)

    @tf.function(jit_compile=True)
    def sample():
        return tfp.mcmc.sample_chain(
            3, state, kernel=kernel, trace_fn=lambda _, r: r.is_accepted, seed=[1, 2]
        )

    samples, accepted = sample()
    assert samples.shape == (3, 16, 10) and accepted.shape == (3, 16)
    np.testing.assert_array_equal(samples, sample()[0])


def test_single_chain_state_and_kernel_properties(gaussian10):
    kernel = mcmc.PreconditionedMALA(gaussian10.log_prob, 0.5, tf.ones([10]))
    assert kernel.is_calibrated and not kernel._impl.inner_kernel.is_calibrated
    assert set(kernel.parameters) >= {"target_log_prob_fn", "step_size", "scale_tril"}
    state = tf.zeros([10])
    next_state, results = kernel.one_step(state, kernel.bootstrap_results(state), seed=[1, 3])
    assert next_state.shape == (10,) and results.log_accept_ratio.shape == ()
    with pytest.raises(ValueError, match="num_leapfrog_steps"):
        mcmc.PreconditionedHMC(gaussian10.log_prob, 0.5, None, num_leapfrog_steps=0)


@pytest.mark.parametrize("state_shape", [(5,), (4, 5), (2, 3, 5)])
def test_shared_tril_products_match_dense_numpy(state_shape):
    # One [d, d] C for all chains goes through matmul / one triangular solve; the per-chain
    # [..., d, d] path and numpy must give the same C x, C^T x and C^{-T} x, and the
    # gradient with respect to C must match the per-chain path's (summed over chains).
    rng = np.random.default_rng(0)
    d = state_shape[-1]
    tril = np.tril(rng.normal(size=(d, d))) + 3.0 * np.eye(d)
    x = rng.normal(size=state_shape)
    shared = tf.constant(tril)
    expected = {
        "matvec": x @ tril.T,
        "matvec_transpose": x @ tril,
        "solve_transpose": np.linalg.solve(tril.T, x.reshape(-1, d).T).T.reshape(state_shape),
    }
    for name, value in expected.items():
        fn = getattr(_scale, name)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(shared)
            per_chain = tf.broadcast_to(shared, state_shape[:-1] + (d, d))
            fast = fn(shared, tf.constant(x))
            slow = fn(per_chain, tf.constant(x)) if len(state_shape) > 1 else fast
            fast_sum, slow_sum = tf.reduce_sum(tf.sin(fast)), tf.reduce_sum(tf.sin(slow))
        np.testing.assert_allclose(fast.numpy(), value, rtol=1e-10, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(slow.numpy(), value, rtol=1e-10, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(
            tape.gradient(fast_sum, shared).numpy(),
            tape.gradient(slow_sum, shared).numpy(),
            rtol=1e-10,
            atol=1e-12,
            err_msg=name,
        )
