"""Tests of the speed-measure objective, its gradients and the adaptive chain."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf_smvae import mcmc
from tf_smvae.util.errors import ConfigError

NUM_DIMS = 3


def _banana_log_prob(state):
    """A non-Gaussian target (curved, with a non-constant Hessian)."""
    first, second, third = tf.unstack(state, axis=-1)
    return -0.5 * (first**2 + 4.0 * (second - 0.5 * first**2) ** 2 + third**2 / 2.0)


def _transition(kernel_name, num_leapfrog_steps, step_size, scale_tril, seed):
    state = tf.constant(np.random.default_rng(0).normal(size=(6, NUM_DIMS)) * 0.7, dtype=tf.float64)
    kernel = mcmc.make_kernel(
        kernel_name, _banana_log_prob, step_size, scale_tril, num_leapfrog_steps
    )
    current = kernel.bootstrap_results(state)
    _, results = kernel.one_step(state, current, seed=seed)
    return state, (current, results)


def _objective(state, transition, step_size, scale_tril, num_leapfrog_steps, mode):
    current, results = transition
    terms = mcmc.speed_measure_objective(
        _banana_log_prob,
        state,
        current.accepted_results,
        results.proposed_results,
        step_size,
        scale_tril,
        entropy_weight=0.7,
        num_leapfrog_steps=num_leapfrog_steps,
        gradient_mode=mode,
        entropy_estimator="exact",
    )
    return tf.reduce_mean(terms.objective), terms


@pytest.mark.parametrize(
    "kernel_name,num_leapfrog_steps", [("mala", 1), ("hmc", 3)], ids=["mala", "hmc3"]
)
def test_gradients_match_finite_differences(kernel_name, num_leapfrog_steps):
    # `full` mode: F(h, C) with the recorded noise (and, for HMC, interior gradients and
    # midpoint) fixed is an ordinary function of (h, C); for MALA it is the true
    # log alpha(z, T(v | z; h, C)) + beta log|det hC| + const.
    rng = np.random.default_rng(3)
    scale = np.tril(0.2 * rng.normal(size=(NUM_DIMS, NUM_DIMS)), -1) + np.diag([0.9, 0.6, 1.2])
    step_size = tf.constant(0.55 if num_leapfrog_steps == 1 else 0.3, tf.float64)
    scale = tf.constant(scale)
    state, results = _transition(kernel_name, num_leapfrog_steps, step_size, scale, [2, 7])
    with tf.GradientTape() as tape:
        tape.watch([step_size, scale])
        value, terms = _objective(state, results, step_size, scale, num_leapfrog_steps, "full")
    grad_step, grad_scale = tape.gradient(value, [step_size, scale])
    accept = terms.log_accept_prob.numpy()
    log_accept_ratio = results[1].log_accept_ratio.numpy()
    assert np.all(np.abs(log_accept_ratio) > 1e-4)  # away from the kink of min(0, .)
    assert np.any(log_accept_ratio < 0.0) and np.any(log_accept_ratio > 0.0)
    # The value of F's acceptance term is the kernel's log_accept_ratio.
    np.testing.assert_allclose(accept, np.minimum(log_accept_ratio, 0.0), rtol=1e-9, atol=1e-12)
    eps = 1e-6

    def at(h, c):
        return _objective(state, results, h, c, num_leapfrog_steps, "full")[0].numpy()

    fd_step = (at(step_size + eps, scale) - at(step_size - eps, scale)) / (2 * eps)
    np.testing.assert_allclose(grad_step.numpy(), fd_step, rtol=1e-6, atol=1e-8)
    for i, j in zip(*np.tril_indices(NUM_DIMS)):
        bump = tf.constant(np.eye(NUM_DIMS)[i][:, None] * np.eye(NUM_DIMS)[j][None] * eps)
        fd = (at(step_size, scale + bump) - at(step_size, scale - bump)) / (2 * eps)
        np.testing.assert_allclose(grad_scale.numpy()[i, j], fd, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("mode", ["stop_target_grads", "full"])
@pytest.mark.parametrize("kernel_name,num_leapfrog_steps", [("mala", 1), ("hmc", 3)])
def test_every_kernel_parameter_gets_a_finite_gradient(kernel_name, num_leapfrog_steps, mode):
    params = mcmc.KernelParameters(NUM_DIMS, "tril", init_step_size=0.4, dtype="float64")
    state = tf.random.stateless_normal([32, NUM_DIMS], seed=[1, 1], dtype=tf.float64)
    results = mcmc.run_adaptive_chain(
        _banana_log_prob,
        state,
        params,
        num_steps=3,
        kernel=kernel_name,
        num_leapfrog_steps=num_leapfrog_steps,
        gradient_mode=mode,
        seed=[3, 3],
    )
    assert len(results.grads) == len(params.trainable_variables) == 2
    for grad, variable in zip(results.grads, params.trainable_variables):
        assert grad.shape == variable.shape
        assert np.all(np.isfinite(grad.numpy())) and np.all(grad.numpy() != 0.0)
    assert 0.0 < results.accept_prob.numpy() <= 1.0
    assert int(results.num_nonfinite_grads) == 0


def test_mala_entropy_is_log_det_hc():
    params = mcmc.KernelParameters(
        NUM_DIMS, "diag", init_step_size=0.3, init_scale=2.0, dtype="float64"
    )
    scale = tf.fill([NUM_DIMS], tf.constant(2.0, tf.float64))
    state, results = _transition("mala", 1, 0.3, scale, [1, 2])
    entropy, penalty = mcmc.proposal_entropy(
        _banana_log_prob, results[1].proposed_results, params.step_size, params.scale_tril, NUM_DIMS
    )
    expected = 0.5 * NUM_DIMS * math.log(2 * math.pi * math.e) + params.log_det_hc.numpy()
    np.testing.assert_allclose(entropy.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(penalty.numpy(), 0.0)
    assert state.shape == (6, NUM_DIMS)


@pytest.mark.parametrize("mode", ["stop_target_grads", "full"])
@pytest.mark.parametrize("kernel_name,num_leapfrog_steps", [("mala", 1), ("hmc", 3)])
def test_nonfinite_proposals_give_no_nan(kernel_name, num_leapfrog_steps, mode):
    def log_prob(state):  # NaN beyond z_0 = 1 with an infinite gradient at the boundary.
        return -0.5 * tf.reduce_sum(state**2, -1) + tf.math.log(1.0 - state[..., 0]) * 0.1

    params = mcmc.KernelParameters(NUM_DIMS, "tril", init_step_size=0.9)
    state = tf.concat([tf.fill([64, 1], 0.8), tf.zeros([64, NUM_DIMS - 1])], axis=1)
    results = mcmc.run_adaptive_chain(
        log_prob,
        state,
        params,
        num_steps=4,
        kernel=kernel_name,
        num_leapfrog_steps=num_leapfrog_steps,
        gradient_mode=mode,
        seed=[5, 1],
    )
    assert int(results.num_nonfinite) > 0
    assert np.all(np.isfinite(results.final_state.numpy()))
    assert np.all(results.final_state.numpy()[:, 0] < 1.0)
    for grad in results.grads:
        assert np.all(np.isfinite(grad.numpy()))
    for value in (results.accept_prob, results.entropy, results.objective):
        assert np.isfinite(value.numpy())


@pytest.mark.parametrize("estimator", ["exact", "stochastic"])
def test_seeded_replay_and_xla_compilation(estimator):
    params = mcmc.KernelParameters(NUM_DIMS, "tril", init_step_size=0.5)
    state = tf.random.stateless_normal([16, NUM_DIMS], seed=[2, 2])

    @tf.function(jit_compile=True)
    def step(seed):
        return mcmc.run_adaptive_chain(
            _banana_log_prob,
            state,
            params,
            num_steps=2,
            kernel="hmc",
            num_leapfrog_steps=2,
            entropy_estimator=estimator,
            seed=seed,
        )

    first, again = step(tf.constant([1, 2])), step(tf.constant([1, 2]))
    other = step(tf.constant([1, 3]))
    np.testing.assert_array_equal(first.final_state, again.final_state)
    for a, b in zip(first.grads, again.grads):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.final_state, other.final_state)
    eager = mcmc.run_adaptive_chain(
        _banana_log_prob,
        state,
        params,
        num_steps=2,
        kernel="hmc",
        num_leapfrog_steps=2,
        entropy_estimator=estimator,
        seed=tf.constant([1, 2]),
    )
    # XLA may pick another stateless RNG algorithm than the eager kernels, so compiled and
    # eager runs agree in distribution, not bit for bit; each replays itself exactly.
    assert eager.final_state.shape == first.final_state.shape
    assert all(np.all(np.isfinite(g.numpy())) for g in eager.grads)


def test_update_entropy_weight_rule():
    rule = mcmc.update_entropy_weight
    np.testing.assert_allclose(rule(2.0, 0.75, 0.55, 0.5).numpy(), 2.0 * (1 + 0.5 * 0.2))
    np.testing.assert_allclose(rule(2.0, 0.35, 0.55, 0.5).numpy(), 2.0 * (1 - 0.5 * 0.2))
    np.testing.assert_allclose(rule(99.0, 1.0, 0.55, 1.0).numpy(), 100.0)
    np.testing.assert_allclose(rule(1.1e-3, 0.0, 0.65, 1.0).numpy(), 1e-3)
    assert mcmc.KERNELS.get("mala").target_accept_prob == 0.55
    assert mcmc.KERNELS.get("hmc").target_accept_prob == 0.65


def test_unknown_names_raise_config_error():
    params = mcmc.KernelParameters(NUM_DIMS, "identity")
    state = tf.zeros([2, NUM_DIMS])
    with pytest.raises(ConfigError, match="gradient_mode"):
        mcmc.run_adaptive_chain(
            _banana_log_prob, state, params, num_steps=1, gradient_mode="nope", seed=[1, 1]
        )
    with pytest.raises(ConfigError, match="kernel"):
        mcmc.run_adaptive_chain(_banana_log_prob, state, params, num_steps=1, kernel="x", seed=1)


@pytest.mark.parametrize("num_leapfrog_steps", [1, 3])
def test_the_gradient_reads_the_trajectory_length_from_the_kernel(num_leapfrog_steps):
    # L is held by the kernel object: handing the kernel gives the gradient that the
    # explicit L gives, and a wrong explicit L a different one (the entropy depends on L).
    step_size = tf.constant(0.3, tf.float64)
    scale = tf.constant([0.9, 0.6, 1.2], tf.float64)
    kernel = mcmc.make_kernel("hmc", _banana_log_prob, step_size, scale, num_leapfrog_steps)
    state, (current, results) = _transition("hmc", num_leapfrog_steps, step_size, scale, [4, 1])
    assert kernel.num_leapfrog_steps == num_leapfrog_steps

    def gradients(**options):
        return mcmc.speed_measure_gradients(
            _banana_log_prob,
            state,
            current,
            results,
            [step_size, scale],
            lambda tensors: tuple(tensors),
            entropy_weight=0.7,
            entropy_estimator="exact",
            **options,
        ).grads

    from_kernel = gradients(kernel=kernel)
    explicit = gradients(num_leapfrog_steps=num_leapfrog_steps)
    wrong = gradients(num_leapfrog_steps=num_leapfrog_steps + 2)
    for a, b in zip(from_kernel, explicit):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(from_kernel[0], wrong[0])
