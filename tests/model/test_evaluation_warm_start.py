"""A kernel never adapted in training is warm-started before `refine` and IS use it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tf_smvae import evaluation


def _elbo_only_model(kernel, **kwargs):
    keras.utils.set_random_seed(0)
    x = (np.random.default_rng(0).random((200, 28, 28, 1)) > 0.7).astype(np.float32)
    model = tf_smvae.SpeedMeasureVAE(
        (28, 28, 1),
        4,
        kernel=kernel,
        num_leapfrog_steps=2 if kernel == "hmc" else 1,
        num_mcmc_steps=3,
        init_step_size=3.0,  # far too large for a trained posterior
        mcmc_start_epoch=10,  # never reached: the kernel is never adapted
        network_kwargs={"hidden_units": (32,)},
        **kwargs,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        kernel_optimizer=keras.optimizers.Adam(1e-2),
        jit_compile=True,
    )
    model.fit(x, batch_size=50, epochs=3, verbose=0)
    return model, x


def _acceptance(model, x):
    start = model.sample_posterior(x, 1, tf.constant([1, 2], tf.int32))[0]
    results = model.refinement.sample(
        lambda z: model.log_joint(x, z), start, tf.constant([3, 4], tf.int32)
    )
    return float(results.accept_prob)


@pytest.mark.parametrize("kernel", ["mala", "hmc"])
def test_refine_warm_starts_a_never_adapted_kernel(kernel):
    model, x = _elbo_only_model(kernel)
    target = model.refinement.target_accept_prob
    cold = _acceptance(model, x[:100])
    assert abs(cold - target) > 0.2, cold
    refined = model.refine(x[:100])
    assert np.all(np.isfinite(refined.numpy()))
    assert int(model.refinement.warm_started.numpy()) == 1
    warm = _acceptance(model, x[:100])
    print(f"{kernel}: acceptance {cold:.3f} at h_0, {warm:.3f} warm-started (a* {target})")
    assert abs(warm - target) < 0.1
    # Once: a second call keeps the kernel.
    step_size = float(model.refinement.step_size())
    assert not model.warm_start_kernel(x[:100])
    assert float(model.refinement.step_size()) == step_size


def test_log_likelihood_warm_starts_once_and_not_when_turned_off(capsys):
    model, x = _elbo_only_model("mala")
    evaluation.log_likelihood(model, x[:20], num_samples=8, batch_size=10)
    assert "warm-started on the first batch" in capsys.readouterr().out
    assert int(model.refinement.warm_started.numpy()) == 1

    off, _ = _elbo_only_model("mala", warm_start=False)
    evaluation.log_likelihood(off, x[:20], num_samples=8, batch_size=10)
    assert "warm-started" not in capsys.readouterr().out
    assert float(off.refinement.step_size()) == pytest.approx(3.0)
