"""Choosing HMC's L by the expected whitened squared jump per gradient."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae import mcmc
from tf_smvae.util.errors import ConfigError

NUM_DIMS = 10


def _standard_normal(z):
    return -0.5 * tf.reduce_sum(tf.square(z), axis=-1)


def _draws(num_chains=256, seed=0):
    return np.random.default_rng(seed).normal(size=(num_chains, NUM_DIMS))


def test_the_jump_per_gradient_is_the_leapfrog_rotation_and_peaks_before_the_u_turn():
    # On N(0, I) the leapfrog flow turns each coordinate by ~L h radians, so from the
    # stationary distribution E||z' - z||^2 = 2 d (1 - cos(theta_L)), theta_L the exact
    # leapfrog rotation angle (cos(theta) = 1 - h^2/2 per step), and J(L) is that / L.
    step_size = 0.3
    results = mcmc.choose_num_leapfrog_steps(
        _standard_normal, tf.constant(_draws(), tf.float64), step_size, seed=3
    )
    theta = np.arccos(1.0 - step_size**2 / 2.0)
    expected = [2 * NUM_DIMS * (1 - np.cos(n * theta)) / n for n in results.candidates]
    np.testing.assert_allclose(results.jump_per_gradient, expected, rtol=0.1)
    assert results.num_leapfrog_steps == 8  # half a period is pi / 0.3 ~ 10 steps
    assert min(results.accept_prob) > 0.9


@pytest.mark.parametrize("preconditioner", ["diag", "tril"])
def test_the_choice_is_invariant_under_the_preconditioner(preconditioner):
    # A Gaussian N(0, C C^T) sampled with C is N(0, I) sampled with the identity, chain by
    # chain: the whitened jumps, and so the choice, are the same.
    rng = np.random.default_rng(1)
    scales = np.geomspace(0.05, 20.0, NUM_DIMS)
    if preconditioner == "diag":
        scale_tril, dense = scales, np.diag(scales)
    else:
        lower = np.tril(rng.normal(size=(NUM_DIMS, NUM_DIMS)), -1) * 0.5
        dense = scale_tril = lower + np.diag(scales)
    target = tfp.distributions.MultivariateNormalTriL(
        loc=tf.zeros(NUM_DIMS, tf.float64), scale_tril=tf.constant(dense)
    )
    white = tf.constant(_draws(64, seed=2))
    whitened = mcmc.choose_num_leapfrog_steps(_standard_normal, white, 0.4, seed=5)
    coloured = mcmc.choose_num_leapfrog_steps(
        target.log_prob,
        tf.linalg.matvec(tf.constant(dense), white),
        0.4,
        tf.constant(scale_tril),
        seed=5,
    )
    np.testing.assert_allclose(coloured.jump_per_gradient, whitened.jump_per_gradient, rtol=1e-6)
    assert coloured.num_leapfrog_steps == whitened.num_leapfrog_steps


def test_bad_candidates_are_one_clear_error():
    state = tf.zeros([4, NUM_DIMS])
    with pytest.raises(ConfigError, match="candidates"):
        mcmc.choose_num_leapfrog_steps(_standard_normal, state, 0.1, candidates=(0, 2), seed=1)
    with pytest.raises(ConfigError, match="num_transitions"):
        mcmc.choose_num_leapfrog_steps(_standard_normal, state, 0.1, num_transitions=0, seed=1)
    with pytest.raises(ConfigError, match="auto"):
        mcmc.adapt_kernel(_standard_normal, state, kernel="mala", num_leapfrog_steps="auto", seed=1)


def test_adapt_kernel_with_auto_length_returns_the_best_l_at_its_acceptance_target():
    # After (h, C) are learned at L = 3 the chosen L is the candidate of the largest jump
    # per gradient, and h is re-tuned for it: the returned kernel samples at a*.
    scales = np.geomspace(0.3, 3.0, NUM_DIMS)
    target = tfp.distributions.MultivariateNormalDiag(scale_diag=tf.constant(scales))
    adapted = mcmc.adapt_kernel(
        target.log_prob,
        tf.constant(_draws(64) * 0.1),
        kernel="hmc",
        preconditioner="diag",
        num_leapfrog_steps="auto",
        num_adaptation_steps=400,
        seed=7,
    )
    chosen = adapted.trajectory_length
    best = int(np.argmax(chosen.jump_per_gradient))
    assert adapted.kernel.num_leapfrog_steps == chosen.num_leapfrog_steps == chosen.candidates[best]
    assert float(adapted.step_size) == float(adapted.kernel.step_size)
    _, accept = tfp.mcmc.sample_chain(
        100,
        adapted.final_state,
        kernel=adapted.kernel,
        trace_fn=lambda _, results: tf.exp(tf.minimum(results.log_accept_ratio, 0.0)),
        seed=[3, 4],
    )
    assert abs(float(tf.reduce_mean(accept)) - 0.65) < 0.05
