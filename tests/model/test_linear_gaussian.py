"""LinearGaussianHVAE: its closed forms against numpy, importance sampling and MCMC."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tf_smvae import mcmc
from tf_smvae.data import linear_gaussian

_DIMS = (2, 3)


def _softplus(u):
    return np.log1p(np.exp(u))


def _weights(model):
    """The model's parameters read straight from its variables, float64 numpy."""
    prior, decoder, n_top = model.prior, model.decoder, model.latent_dims[0]
    get = lambda v: np.asarray(v.numpy(), np.float64)  # noqa: E731
    kernel = get(decoder.kernel)
    return dict(
        top_loc=get(prior.top_loc),
        transition=get(prior.kernels[0]).T,  # A [n2, n1]
        bias=get(prior.biases[0]),
        scales=[model.min_prior_scale + _softplus(get(u)) for u in prior.unconstrained_scales],
        w_z=kernel[: model.latent_dims[-1]].T,
        w_d=kernel[model.latent_dims[-1] :].T,
        b=get(decoder.bias),
        noise_variance=_softplus(get(model.likelihood.unconstrained_variance)).reshape(-1),
        n_top=n_top,
    )


def _numpy_moments(w):
    """Joint Gaussian of (z_1, z_2) and the affine map to x, written out for two layers."""
    a, s1, s2 = w["transition"], w["scales"][0], w["scales"][1]
    cov11 = np.diag(s1**2)
    cov = np.block([[cov11, cov11 @ a.T], [a @ cov11, a @ cov11 @ a.T + np.diag(s2**2)]])
    mean = np.concatenate([w["top_loc"], a @ w["top_loc"] + w["bias"]])
    weight = np.concatenate([w["w_d"] @ a, w["w_z"]], axis=1)  # x = W_z z_2 + W_d (A z_1 + c)
    offset = w["b"] + w["w_d"] @ w["bias"]
    return mean, cov, weight, offset


def _gaussian_log_pdf(x, mean, cov):
    diff = x - mean
    _, log_det = np.linalg.slogdet(cov)
    quad = np.einsum("...i,ij,...j->...", diff, np.linalg.inv(cov), diff)
    return -0.5 * (quad + log_det + mean.shape[-1] * math.log(2.0 * math.pi))


@pytest.fixture(scope="module")
def trained():
    """A (2, 3) model fitted briefly to simulated data, so that q(z|x) is a fair proposal."""
    data = linear_gaussian.simulate(_DIMS, num_points=40, data_dim=4, seed=0)
    model = tf_smvae.LinearGaussianHVAE(data.image_shape, _DIMS, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(2e-2), steps_per_execution=300)
    dataset = tf.data.Dataset.from_tensors(data.x).repeat()
    model.fit(dataset, epochs=1, steps_per_epoch=300, verbose=0)
    return model, data


def test_exact_log_likelihood_matches_numpy_and_importance_sampling(trained):
    model, data = trained
    exact = model.exact_log_likelihood(data.x).numpy()
    mean, cov, weight, offset = _numpy_moments(_weights(model))
    marginal_cov = weight @ cov @ weight.T + np.diag(_weights(model)["noise_variance"])
    flat = data.x.reshape(len(data.x), -1).astype(np.float64)
    np.testing.assert_allclose(exact, _gaussian_log_pdf(flat, weight @ mean + offset, marginal_cov))
    # IS with S = 20000 from the top-down proposal (tau = 1.5): per-example errors are
    # ~0.01 nats here; tolerance 0.02 on the mean, 0.1 on any example.
    estimate = tf_smvae.evaluation.log_likelihood(model, data.x, num_samples=20000, seed=0)
    error = estimate.per_example - exact
    assert abs(error.mean()) < 0.02 and np.abs(error).max() < 0.1, error


def test_mcmc_target_is_the_sum_of_layer_priors_and_likelihood(trained):
    model, data = trained
    w = _weights(model)
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, len(data.x), sum(_DIMS))).astype(np.float32)
    z1, z2 = z[..., :2].astype(np.float64), z[..., 2:].astype(np.float64)
    x = data.x.reshape(len(data.x), -1).astype(np.float64)
    features = z1 @ w["transition"].T + w["bias"]  # d_2 = A z_1 + c
    x_mean = z2 @ w["w_z"].T + features @ w["w_d"].T + w["b"]
    expected = (
        _gaussian_log_pdf(z1, w["top_loc"], np.diag(w["scales"][0] ** 2))
        + _gaussian_log_pdf(z2, features, np.diag(w["scales"][1] ** 2))
        + _gaussian_log_pdf(x, x_mean, np.diag(w["noise_variance"]))
    )
    np.testing.assert_allclose(model.log_joint(data.x, z).numpy(), expected, rtol=1e-5)
    # And the prior it implies is N(m, prior_covariance()).
    mean, cov, _, _ = _numpy_moments(w)
    np.testing.assert_allclose(model.prior_covariance().numpy(), cov, rtol=1e-10)
    log_prior = model.prior_distribution().log_prob(z).numpy()
    np.testing.assert_allclose(log_prior, _gaussian_log_pdf(z.astype(np.float64), mean, cov), 1e-5)


def test_posterior_covariance_formula_and_a_long_mcmc_run(trained):
    model, data = trained
    covariance = model.posterior_covariance().numpy()
    # DESIGN section 3's formula equals the inverse of the posterior precision.
    _, prior_cov, weight, _ = _numpy_moments(_weights(model))
    precision = (
        np.linalg.inv(prior_cov)
        + weight.T @ np.diag(1.0 / _weights(model)["noise_variance"]) @ weight
    )
    np.testing.assert_allclose(covariance, np.linalg.inv(precision), rtol=1e-8, atol=1e-12)
    # 4000 MALA chains (identity C) on the posterior of one x, 400 steps from the encoder's
    # draws: their end points are draws from the exact posterior. Whitened by the claimed
    # covariance, their covariance is I up to sampling error (sd ~ 1/sqrt(4000) = 0.016).
    x = np.repeat(data.x[:1], 4000, axis=0)
    start = tf.reshape(model.sample_posterior(x, 1, tf.constant([0, 1])), [4000, -1])
    step = 0.7 * math.sqrt(np.linalg.eigvalsh(covariance)[0])
    run = tf.function(
        lambda state: (
            mcmc.run_chain(
                lambda z: model.log_joint(x, z),
                state,
                step_size=tf.constant(step, tf.float32),
                kernel="mala",
                num_steps=400,
                seed=tf.constant([3, 4]),
            ).final_state
        ),
        jit_compile=True,
    )
    ends = run(start).numpy().astype(np.float64)
    chol = np.linalg.cholesky(covariance)
    white = np.linalg.solve(chol, (ends - ends.mean(0)).T)
    np.testing.assert_allclose(np.cov(white), np.eye(sum(_DIMS)), atol=0.1)


def test_the_same_model_across_a_keras_round_trip(trained, tmp_path):
    model, data = trained
    path = str(tmp_path / "linear.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, tf_smvae.LinearGaussianHVAE)
    np.testing.assert_array_equal(
        loaded.exact_log_likelihood(data.x), model.exact_log_likelihood(data.x)
    )
