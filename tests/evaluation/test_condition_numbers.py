"""Condition numbers of the linear study: the formulas, and what adaptation does to them."""

import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tf_smvae import mcmc
from tf_smvae.data import linear_gaussian
from tf_smvae.evaluation import condition_numbers as cn


def _spd(dim, seed, spread=100.0):
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return rotation @ np.diag(np.geomspace(1.0, spread, dim)) @ rotation.T


def test_formulas_against_direct_numpy():
    covariance = _spd(6, 0)
    np.testing.assert_allclose(cn.condition_number(covariance), 100.0, rtol=1e-8)
    scale = np.tril(np.random.default_rng(1).normal(size=(6, 6))) + 3.0 * np.eye(6)
    direct = np.linalg.cond(scale.T @ np.linalg.inv(covariance) @ scale)
    np.testing.assert_allclose(cn.preconditioned_condition_number(covariance, scale), direct, 1e-6)
    diagonal = np.abs(np.diag(scale))
    direct = np.linalg.cond(np.diag(diagonal) @ np.linalg.inv(covariance) @ np.diag(diagonal))
    np.testing.assert_allclose(
        cn.preconditioned_condition_number(covariance, diagonal), direct, 1e-6
    )
    # C = I gives kappa(Sigma^{-1}) = kappa(Sigma); C = chol(Sigma) whitens perfectly.
    np.testing.assert_allclose(cn.preconditioned_condition_number(covariance), 100.0, rtol=1e-8)
    whitened = cn.preconditioned_condition_number(covariance, np.linalg.cholesky(covariance))
    np.testing.assert_allclose(whitened, 1.0, rtol=1e-8)
    assert cn.log_likelihood_gap([-1.0, -2.0], [-1.5, -3.5]) == pytest.approx(1.0)


def test_linear_study_metrics_of_a_model():
    data = linear_gaussian.simulate((2, 3), num_points=20, data_dim=4, seed=0)
    model = tf_smvae.SpeedMeasureLinearGaussianHVAE(
        data.image_shape, (2, 3), kernel="mala", preconditioner="diag"
    )
    metrics = cn.linear_study_metrics(model, data.x, data.log_likelihood)
    covariance = model.posterior_covariance().numpy()
    assert metrics.kappa_posterior == pytest.approx(np.linalg.cond(covariance), rel=1e-8)
    # C starts at the identity.
    assert metrics.kappa_transformed == pytest.approx(metrics.kappa_posterior, rel=1e-6)
    gap = np.mean(data.log_likelihood - model.exact_log_likelihood(data.x).numpy())
    assert metrics.delta_log_px == pytest.approx(gap)
    plain = tf_smvae.LinearGaussianHVAE(data.image_shape, (2, 3))
    assert cn.linear_study_metrics(plain, data.x, data.log_likelihood).kappa_transformed is None


def test_linear_study_metrics_name_a_non_finite_variable():
    data = linear_gaussian.simulate((2, 3), num_points=20, data_dim=4, seed=0)
    model = tf_smvae.SpeedMeasureLinearGaussianHVAE(
        data.image_shape, (2, 3), kernel="mala", preconditioner="diag"
    )
    variable = model.refinement.kernel_parameters.unconstrained_scale
    variable.assign(np.full(variable.shape, np.nan, np.float32))
    with pytest.raises(ValueError, match="unconstrained_scale.*not finite"):
        cn.linear_study_metrics(model, data.x, data.log_likelihood)
    with pytest.raises(ValueError, match="non-finite"):
        cn.condition_number(np.array([[1.0, np.inf], [0.0, 1.0]]))


@pytest.fixture(scope="module")
def ill_conditioned():
    """A (2, 4) linear model whose 4 observed directions are pinned by low-noise data while
    the other 2 are not: kappa(Sigma_{z|x}) ~ 400, with rotated (non-axis) directions."""
    data = linear_gaussian.simulate((2, 4), num_points=200, data_dim=4, seed=0)
    model = tf_smvae.LinearGaussianHVAE(data.image_shape, (2, 4), seed=1, noise_variance_init=0.05)
    model.decoder.kernel.assign(3.0 * model.decoder.kernel)
    start = model.sample_posterior(data.x, 1, tf.constant([0, 1]))[0]
    return model, data, start


@pytest.mark.parametrize("preconditioner", ["tril", "diag"])
def test_speed_measure_tril_whitens_the_posterior_diag_cannot(ill_conditioned, preconditioner):
    model, data, start = ill_conditioned
    covariance = model.posterior_covariance()
    kappa = cn.condition_number(covariance)
    assert kappa > 200.0
    result = mcmc.adapt_kernel(
        lambda z: model.log_joint(data.x, z),
        start,
        kernel="mala",
        preconditioner=preconditioner,
        num_adaptation_steps=300,
        learning_rate=0.02,
        # Each chain targets its own data point's posterior (one shape, other means).
        estimate_covariance="within_chains",
        seed=2,
    )
    transformed = cn.preconditioned_condition_number(
        covariance, result.kernel_parameters.dense_scale_tril()
    )
    if preconditioner == "tril":
        assert transformed < 3.0  # measured 1.2
    else:
        assert transformed > kappa / 4.0  # measured ~250 of ~410


def test_dual_averaging_leaves_the_condition_number_unchanged(ill_conditioned):
    model, data, start = ill_conditioned
    refinement = tf_smvae.model.MCMCRefinement(
        sum(model.latent_dims), adaptation="dual_averaging", preconditioner="identity"
    )
    adapt = tf.function(
        lambda state, seed: (
            refinement.adapt(lambda z: model.log_joint(data.x, z), state, seed).final_state
        )
    )
    state = start
    for step in range(30):
        state = adapt(state, tf.constant([5, step]))
    assert abs(float(refinement.step_size(training=True)) - 0.1) > 1e-3  # h did adapt
    covariance = model.posterior_covariance()
    transformed = cn.preconditioned_condition_number(
        covariance, refinement.kernel_parameters.dense_scale_tril()
    )
    np.testing.assert_allclose(transformed, cn.condition_number(covariance), rtol=1e-8)
