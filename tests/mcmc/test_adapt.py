"""Tests of `adapt_kernel`: the speed measure learns the target's geometry."""

import numpy as np
import pytest
import tensorflow as tf

from tests.mcmc.gaussians import make_gaussian
from tf_smvae import mcmc


def _adapt(preconditioner, seed):
    # A rotated 20-d Gaussian whose covariance eigenvalues span 0.1 to 10 (condition 100).
    target = make_gaussian(20, 2.0, seed=seed)
    initial = np.random.default_rng(seed).multivariate_normal(
        target.mean, target.covariance, size=100
    )
    result = mcmc.adapt_kernel(
        target.log_prob,
        tf.constant(initial, tf.float32),
        kernel="mala",
        preconditioner=preconditioner,
        num_adaptation_steps=1000,
        learning_rate=0.01,
        seed=seed,
    )
    scale = result.kernel_parameters.dense_scale_tril().numpy().astype(np.float64)
    condition = np.linalg.cond(scale.T @ target.precision @ scale)
    return result, condition


@pytest.mark.slow
def test_tril_learns_the_covariance():
    result, condition = _adapt("tril", seed=1)
    assert np.linalg.cond(make_gaussian(20, 2.0, seed=1).covariance) > 99.0
    assert condition <= 3.0
    assert abs(result.trace.accept_prob[-200:].mean() - 0.55) < 0.05
    assert result.scale_tril.shape == (20, 20) and result.scale_diag is None
    assert result.trace.accept_prob.shape == result.trace.entropy_weight.shape == (1000,)
    assert np.all(np.isfinite(result.trace.entropy))


@pytest.mark.slow
def test_diag_cannot_undo_a_rotation():
    result, condition = _adapt("diag", seed=1)
    assert condition > 10.0
    assert result.scale_diag.shape == (20,) and result.scale_tril is None
    dense = result.kernel_parameters.dense_scale_tril().numpy()
    np.testing.assert_allclose(dense, np.diag(result.scale_diag.numpy()), rtol=1e-5)
