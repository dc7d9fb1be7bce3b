"""The amortised preconditioners: C(x) = diag(sigma(x)) C, run in whitened coordinates.

The refinement runs its chains on w = z / sigma with the target w -> log p(sigma w).
The reference is the kernel in z itself with one lower-triangular C_b = diag(sigma_b) C
per chain (`[B, d, d]`, which the kernels broadcast): the same noise, so the same
chains, if and only if the change of variables is right.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tf_smvae import mcmc
from tf_smvae.model import refinement as refinement_lib
from tf_smvae.util.errors import ConfigError

_D, _B = 3, 6


def _target(z):
    # A correlated Gaussian whose widths differ by chain: chain b has scales 0.1 * (b + 1).
    widths = 0.1 * tf.range(1.0, _B + 1.0, dtype=z.dtype)[:, tf.newaxis]
    w = z / widths
    return -0.5 * tf.reduce_sum(w**2, -1) - 0.4 * w[:, 0] * w[:, 1]


def _refinement(kernel, preconditioner, num_leapfrog_steps=1):
    layer = refinement_lib.MCMCRefinement(
        _D,
        kernel=kernel,
        preconditioner=preconditioner,
        num_steps=4,
        num_leapfrog_steps=num_leapfrog_steps,
        init_step_size=0.7,
    )
    # A C that is not the identity, so that the test sees how C and sigma combine.
    if preconditioner == "amortised":
        layer.kernel_parameters.assign(scale_diag=[0.8, 1.3, 0.6])
    else:
        layer.kernel_parameters.unconstrained_scale.assign(
            layer.kernel_parameters.unconstrained_scale + [0.1, -0.2, 0.3, 0.05, -0.1, 0.2]
        )
    return layer


@pytest.mark.parametrize(
    "kernel, num_leapfrog_steps",
    [("mala", 1), ("hmc", 1), ("hmc", 3)],
    ids=["mala", "hmc1", "hmc3"],
)
@pytest.mark.parametrize("preconditioner", ["amortised", "amortised_tril"])
def test_amortised_chains_are_the_kernel_with_a_per_chain_scale(
    kernel, num_leapfrog_steps, preconditioner
):
    layer = _refinement(kernel, preconditioner, num_leapfrog_steps)
    rng = np.random.default_rng(1)
    sigma = tf.constant(rng.uniform(0.05, 0.6, (_B, _D)), tf.float32)
    start = tf.constant(rng.normal(size=(_B, _D)) * 0.2, tf.float32)
    seed = tf.constant([3, 4], tf.int32)

    got = layer.sample(_target, start, seed, scale=sigma).final_state

    dense = layer.kernel_parameters.dense_scale_tril()
    per_chain = sigma[:, :, tf.newaxis] * dense[tf.newaxis]  # diag(sigma_b) C
    expected = mcmc.run_chain(
        _target,
        start,
        layer.step_size(),
        per_chain,
        num_steps=4,
        kernel=kernel,
        num_leapfrog_steps=num_leapfrog_steps,
        seed=seed,
    ).final_state
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=2e-4, atol=2e-5)
    # The chains moved (an all-rejecting kernel would pass the comparison trivially).
    assert np.mean(np.any(np.abs(got.numpy() - start.numpy()) > 1e-6, -1)) > 0.5


def test_amortised_adaptation_learns_c_and_returns_latent_states():
    layer = _refinement("mala", "amortised")
    sigma = 0.1 * tf.range(1.0, _B + 1.0)[:, tf.newaxis] * tf.ones([_B, _D])
    start = tf.zeros([_B, _D])
    results = layer.adapt(_target, start, tf.constant([0, 1], tf.int32), scale=sigma)
    assert len(results.kernel_grads) == len(layer.kernel_parameters.trainable_variables)
    assert all(np.all(np.isfinite(g.numpy())) for g in results.kernel_grads)
    # The states are z, not w: chain b's spread follows its own width 0.1 (b + 1).
    spread = np.abs(results.final_state.numpy()).max(-1)
    assert spread[-1] > spread[0]


def test_amortised_without_scales_names_the_preconditioner():
    layer = _refinement("mala", "amortised")
    with pytest.raises(ConfigError, match="amortised.*scale"):
        layer.sample(_target, tf.zeros([_B, _D]), tf.constant([0, 1], tf.int32))


def test_unknown_preconditioner_lists_the_amortised_ones():
    with pytest.raises(ConfigError, match="amortised, amortised_tril"):
        refinement_lib.MCMCRefinement(_D, preconditioner="amortized")


def test_speed_measure_vae_trains_refines_and_round_trips_amortised(tmp_path):
    keras.utils.set_random_seed(0)
    x = (np.random.default_rng(0).random((64, 4, 4, 1)) > 0.6).astype(np.float32)
    model = tf_smvae.SpeedMeasureVAE(
        (4, 4, 1),
        2,
        kernel="hmc",
        num_leapfrog_steps=2,
        preconditioner="amortised",
        num_mcmc_steps=3,
        mcmc_start_epoch=1,
        network_kwargs={"hidden_units": (16,)},
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        kernel_optimizer=keras.optimizers.Adam(1e-2),
        jit_compile=True,
    )
    history = model.fit(x, batch_size=16, epochs=2, verbose=0).history
    assert np.isfinite(history["generative_loss"][1])
    assert 0.0 < history["acceptance"][1] <= 1.0
    assert int(model.refinement.warm_started.numpy()) == 1
    refined = model.refine(x[:8], seed=5)
    assert refined.shape == (8, 2) and np.all(np.isfinite(refined.numpy()))
    path = str(tmp_path / "amortised.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.refinement.amortised and loaded.refinement.preconditioner == "amortised"
    np.testing.assert_allclose(loaded.refine(x[:8], seed=5).numpy(), refined.numpy(), rtol=1e-5)


def test_an_amortised_mcmc_step_runs_the_encoder_once(monkeypatch):
    from tf_smvae.model import mcmc_training

    model = tf_smvae.VAE(
        (4, 4, 1),
        2,
        refinement=refinement_lib.MCMCRefinement(2, kernel="mala", preconditioner="amortised"),
        network_kwargs={"hidden_units": (8,)},
    )
    x = tf.constant((np.random.default_rng(1).random((8, 4, 4, 1)) > 0.5).astype(np.float32))
    calls = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda images: calls.append(1) or encode(images))
    _, _, chain = mcmc_training.gradients(model, x, tf.constant([0, 3]))
    # The chains' per-example scales come from the ELBO terms' encoder pass.
    assert calls == [1] and chain.final_state.shape == (8, 2)
