"""Tests of the dual-averaging baseline."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_smvae import mcmc
from tf_smvae.util.errors import ConfigError


def test_update_matches_hoffman_gelman_formulas():
    values = mcmc.DualAveragingValues(
        tf.constant(0.0), tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)
    )
    mu = np.log(10 * 0.5)
    new = mcmc.dual_averaging_update(values, 0.9, 0.65, mu)
    error_sum = (0.65 - 0.9) / 11.0
    log_h = mu - np.sqrt(1.0) / 0.05 * error_sum
    np.testing.assert_allclose(new.error_sum.numpy(), error_sum, rtol=1e-6)
    np.testing.assert_allclose(new.log_step_size.numpy(), log_h, rtol=1e-6)
    np.testing.assert_allclose(new.log_averaged_step_size.numpy(), log_h, rtol=1e-6)
    second = mcmc.dual_averaging_update(new, 0.2, 0.65, mu)
    error_sum2 = (1 - 1 / 12) * error_sum + (0.65 - 0.2) / 12
    log_h2 = mu - np.sqrt(2.0) / 0.05 * error_sum2
    weight = 2.0**-0.75
    np.testing.assert_allclose(second.log_step_size.numpy(), log_h2, rtol=1e-6)
    np.testing.assert_allclose(
        second.log_averaged_step_size.numpy(), weight * log_h2 + (1 - weight) * log_h, rtol=1e-6
    )


@pytest.mark.slow
def test_converges_to_target_acceptance_and_evaluates_with_averaged_step(gaussian10):
    state = mcmc.DualAveragingState(init_step_size=1.0, target_accept_prob=0.65)
    chains = tf.constant(
        np.random.default_rng(0).multivariate_normal(gaussian10.mean, gaussian10.covariance, 500),
        tf.float32,
    )

    @tf.function
    def train_step(chains, seed):
        results = mcmc.run_dual_averaging_chain(
            gaussian10.log_prob, chains, state, training=True, num_steps=1, seed=seed
        )
        return results.final_state

    for i in range(300):
        chains = train_step(chains, tf.constant([i, 7]))
    averaged = state.averaged_step_size.numpy()
    assert averaged != state.step_size.numpy()
    np.testing.assert_allclose(state.current_step_size(training=False).numpy(), averaged)
    before = [w.numpy() for w in state.weights]
    evaluation = mcmc.run_dual_averaging_chain(
        gaussian10.log_prob, chains, state, training=False, num_steps=20, seed=[1, 1]
    )
    # Evaluation changes nothing and reaches the target acceptance with h-bar.
    np.testing.assert_array_equal(before, [w.numpy() for w in state.weights])
    assert abs(evaluation.accept_prob.numpy() - 0.65) < 0.05
    direct = mcmc.run_chain(gaussian10.log_prob, chains, averaged, num_steps=20, seed=[1, 1])
    np.testing.assert_allclose(direct.accept_prob.numpy(), evaluation.accept_prob.numpy())


def test_restart_each_batch_and_serialization():
    state = mcmc.DualAveragingState(init_step_size=1.0, restart_each_batch=True)
    state.update(0.1)
    assert state.values.step.numpy() == 1.0
    state.begin_batch()
    assert state.values.step.numpy() == 0.0 and state.step_size.numpy() == 1.0
    persistent = mcmc.DualAveragingState(init_step_size=1.0)
    persistent.update(0.1)
    persistent.begin_batch()
    assert persistent.values.step.numpy() == 1.0
    # (h, h-bar, H-bar, t) and the shrinkage target mu.
    assert not persistent.trainable_weights and len(persistent.non_trainable_weights) == 5
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(persistent)
    )
    assert restored.get_config() == persistent.get_config()
    with pytest.raises(ConfigError):
        mcmc.DualAveragingState(target_accept_prob=1.5)


def test_restart_at_moves_the_state_and_the_shrinkage_target():
    state = mcmc.DualAveragingState(init_step_size=1.0)
    state.update(0.1)
    state.restart_at(0.02)
    values = state.values
    np.testing.assert_allclose(np.exp(values.log_step_size.numpy()), 0.02, rtol=1e-6)
    np.testing.assert_allclose(np.exp(values.log_averaged_step_size.numpy()), 0.02, rtol=1e-6)
    assert values.error_sum.numpy() == 0.0 and values.step.numpy() == 0.0
    # The next update is Hoffman and Gelman's first step from mu = log(10 h).
    expected = mcmc.dual_averaging_update(
        values, 0.3, state.target_accept_prob, np.log(10 * 0.02).astype(np.float32)
    )
    np.testing.assert_allclose(state.update(0.3).numpy(), np.exp(expected.log_step_size), rtol=1e-5)
    state.reset()
    np.testing.assert_allclose(state.step_size.numpy(), 1.0)
    np.testing.assert_allclose(state.log_shrinkage_target.numpy(), np.log(10.0), rtol=1e-6)
