"""HierarchicalVAE: compiled fits with and without MCMC, per-layer KL, serialisation, export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tf_smvae.util.errors import ConfigError

_SMALL = dict(network_kwargs={"hidden_units": (16,)}, feature_dim=8, block_units=(8,))


def _images(num=100, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((num, 28, 28, 1)) > 0.7).astype(np.float32)


@pytest.mark.parametrize(
    "latent_dims, kernel",
    [
        ((2, 3), None),
        ((2, 3, 2), dict(kernel="mala", preconditioner="tril")),
    ],
    ids=["2-layers-elbo", "3-layers-gradMALA-LT"],
)
def test_compiled_fit_round_trip_and_export(latent_dims, kernel, tmp_path):
    x = _images()
    compile_kwargs = dict(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    if kernel is None:
        model = tf_smvae.HierarchicalVAE((28, 28, 1), latent_dims, **_SMALL)
    else:
        model = tf_smvae.SpeedMeasureHierarchicalVAE(
            (28, 28, 1), latent_dims, num_mcmc_steps=2, mcmc_start_epoch=1, **kernel, **_SMALL
        )
        compile_kwargs["kernel_optimizer"] = keras.optimizers.Adam(1e-2)
    model.compile(**compile_kwargs)
    history = model.fit(x, epochs=2, batch_size=50, verbose=0).history

    # One KL metric per layer; they add up to the total.
    names = [f"kl_{i}" for i in range(1, len(latent_dims) + 1)]
    assert set(names) <= set(history)
    layer_sum = sum(history[name][-1] for name in names)
    np.testing.assert_allclose(layer_sum, history["kl"][-1], rtol=1e-4)
    assert all(history[name][-1] >= 0.0 for name in names)
    if kernel is not None:
        assert np.isnan(history["acceptance"][0]) and 0.0 < history["acceptance"][1] <= 1.0
        assert history["rejected_nonfinite"][1] == 0
    assert model.latent_dim == sum(latent_dims)

    path = str(tmp_path / "hvae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.latent_dims == model.latent_dims
    np.testing.assert_array_equal(loaded.reconstruct(x[:4]), model.reconstruct(x[:4]))
    z = model.sample_posterior(x[:4], 3, tf.constant([0, 1]))
    assert z.shape == (3, 4, sum(latent_dims))
    np.testing.assert_array_equal(loaded.log_joint(x[:4], z), model.log_joint(x[:4], z))
    np.testing.assert_array_equal(loaded.sample(5, seed=2), model.sample(5, seed=2))

    export = tf_smvae.export.export_saved_model(model, str(tmp_path / "export"), chunk_size=8)
    served = tf.saved_model.load(export)
    np.testing.assert_allclose(served.encode(x[:3])["loc"], model.encode(x[:3])[0], atol=1e-5)
    np.testing.assert_allclose(served.reconstruct(x[:3]), model.reconstruct(x[:3]), atol=1e-5)
    served_ll = served.log_likelihood(x[:3], tf.constant(16), tf.constant([0, 1]))
    model_ll = tf_smvae.evaluation.batch_log_likelihood(model, x[:3], 16, 1.5, 8, [0, 1])[0]
    np.testing.assert_allclose(served_ll["log_likelihood"], model_ll, rtol=1e-4)
    if kernel is not None:
        refined = served.refine(x[:3], tf.constant(2), tf.constant([0, 4]))
        np.testing.assert_allclose(refined, model.refine(x[:3], 2, seed=[0, 4]), atol=1e-4)


def test_analytic_layer_kl_equals_its_monte_carlo_estimate():
    # KL_l = 0.5 sum(mu'^2 + sigma'^2 - 1 - 2 log sigma') must be the mean of
    # log q(z_l | z_<l, x) - log p(z_l | z_<l) over top-down draws.
    kwargs = dict(**_SMALL, seed=3)
    analytic = tf_smvae.HierarchicalVAE((28, 28, 1), (2, 3, 2), **kwargs)
    sampled = tf_smvae.HierarchicalVAE((28, 28, 1), (2, 3, 2), analytic_kl=False, **kwargs)
    sampled.set_weights(analytic.get_weights())
    x = np.repeat(_images(2), 4000, axis=0)
    seed = tf.constant([1, 2])
    exact = analytic.elbo_terms(x, seed)["layer_kl"].numpy().reshape(3, 2, -1)
    estimate = sampled.elbo_terms(x, seed)["layer_kl"].numpy().reshape(3, 2, -1)
    # The analytic KL of layers below the top depends on the draw of z_<l: compare means,
    # with 5 standard errors of the Monte Carlo estimate.
    error = np.abs(exact.mean(-1) - estimate.mean(-1))
    tolerance = 5.0 * estimate.std(-1) / np.sqrt(estimate.shape[-1]) + 1e-3
    assert np.all(error < tolerance), (error, tolerance)
    assert np.all(exact[0].std(-1) < 1e-4)  # the top layer's KL does not depend on any draw


def test_posterior_proposal_density_is_that_of_its_sampler():
    # The IS proposal samples top-down; its log_prob must be the normalised density of that
    # sampler: it integrates to one on a grid (two 1-d layers) and has the samples' mean.
    model = tf_smvae.HierarchicalVAE((28, 28, 1), (1, 1), **_SMALL, seed=5)
    x = _images(1)
    proposal = model.importance_proposal(x, 1.0)
    grid = np.linspace(-8.0, 8.0, 321)
    z = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 1, 2)
    density = np.exp(proposal.log_prob(tf.constant(z, tf.float32)).numpy())
    np.testing.assert_allclose(density.sum() * (grid[1] - grid[0]) ** 2, 1.0, atol=2e-3)
    draws = proposal.sample(20000, seed=tf.constant([0, 3])).numpy()[:, 0]
    mean = (density[:, 0, None] * z[:, 0]).sum(0) * (grid[1] - grid[0]) ** 2
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.05)


def test_bad_arguments_name_the_field():
    with pytest.raises(ConfigError, match="latent_dims"):
        tf_smvae.HierarchicalVAE((28, 28, 1), (2, 0))
    with pytest.raises(ConfigError, match="prior"):
        tf_smvae.HierarchicalVAE((28, 28, 1), (2, 3), prior="mog")
