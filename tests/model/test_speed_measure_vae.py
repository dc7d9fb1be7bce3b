"""SpeedMeasureVAE: Algorithm 1 phases, XLA, serialization, no adaptation at evaluation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tests.linear_model import LinearGaussianCase

_SMALL = {"hidden_units": (32,)}


def _images(num=100, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((num, 28, 28, 1)) > 0.7).astype(np.float32)


def _model(**kwargs):
    kwargs.setdefault("network_kwargs", _SMALL)
    kwargs.setdefault("num_mcmc_steps", 3)
    return tf_smvae.SpeedMeasureVAE((28, 28, 1), 4, **kwargs)


def _compile(model, kernel_learning_rate=1e-2):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        kernel_optimizer=keras.optimizers.Adam(kernel_learning_rate),
        jit_compile=True,
    )
    return model


def _linear_model(case, **kwargs):
    """A SpeedMeasureVAE (MALA) around the linear-Gaussian test model's networks."""
    plain = case.model()
    return tf_smvae.SpeedMeasureVAE(
        plain.image_shape,
        plain.latent_dim,
        likelihood=plain.likelihood,
        encoder=plain.encoder,
        decoder=plain.decoder,
        kernel="mala",
        **kwargs,
    )


def _kernel_state(model):
    return [v.numpy().copy() for v in model.refinement.weights]


def test_csv_logger_keeps_the_mcmc_columns_of_later_epochs(tmp_path):
    """CSVLogger fixes its columns at epoch 1, before the MCMC phase: they must be there."""
    path = str(tmp_path / "log.csv")
    model = _compile(_model(mcmc_start_epoch=1, kernel="mala"))
    model.fit(
        _images(), epochs=2, batch_size=50, verbose=0, callbacks=[keras.callbacks.CSVLogger(path)]
    )
    with open(path) as stream:
        header, first, second = (line.strip().split(",") for line in stream)
    row1, row2 = dict(zip(header, first)), dict(zip(header, second))
    for name in ("acceptance", "entropy", "step_size", "entropy_weight", "dropped_kernel_grads"):
        assert name in header
    assert row1["acceptance"] == "nan" and 0.0 < float(row2["acceptance"]) <= 1.0
    assert float(row1["dropped_kernel_grads"]) == 0.0 and float(row1["step_size"]) > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel": "mala", "preconditioner": "tril"},
        {"kernel": "hmc", "num_leapfrog_steps": 2, "preconditioner": "diag"},
        {"kernel": "hmc", "adaptation": "dual_averaging", "preconditioner": "identity"},
    ],
)
def test_pretraining_then_mcmc_in_one_compiled_fit(kwargs):
    model = _compile(_model(mcmc_start_epoch=1, **kwargs))
    before = _kernel_state(model)
    history = model.fit(_images(), epochs=2, batch_size=50, verbose=0).history
    # Epoch 1 is plain ELBO (chain metrics NaN, counts 0); epoch 2 ran the chains. Every
    # column has one value per epoch, so pd.DataFrame(history) and CSVLogger work.
    assert {len(values) for values in history.values()} == {2}
    assert np.isnan(history["acceptance"][0]) and np.isnan(history["generative_loss"][0])
    assert history["rejected_nonfinite"][0] == 0
    assert np.isfinite(history["step_size"][0]) and history["step_size"][0] > 0
    assert 0.0 < history["acceptance"][1] <= 1.0
    assert history["rejected_nonfinite"][1] == 0
    assert np.isfinite(history["generative_loss"][1])
    assert int(model.mcmc_phase.numpy()) == 1
    after = _kernel_state(model)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "kernel never adapted"
    for weight in model.weights:
        assert np.all(np.isfinite(weight.numpy())), weight.path


def test_speed_measure_steps_move_step_size_and_beta_toward_the_target():
    # Start with a step far too small: acceptance ~1 > a* = 0.55, so the speed measure
    # must grow h and the beta rule must raise beta.
    # Without the warm start, which would replace h by its step-size search.
    model = _compile(
        _model(kernel="mala", init_step_size=0.01, warm_start=False), kernel_learning_rate=0.05
    )
    model.fit(_images(200), epochs=2, batch_size=50, verbose=0)
    # h = softplus(u) ~ exp(u) near 0.01 and Adam moves u by ~0.05 a step: 8 steps of
    # consistent sign give ~x1.5; a wrong-signed gradient would shrink h.
    assert float(model.refinement.step_size()) > 0.013
    assert float(model.refinement.entropy_weight.numpy()) > 1.0


def test_only_the_kernel_optimizer_touches_the_kernel():
    model = _compile(_model(kernel="mala"))
    model.fit(_images(50), epochs=1, batch_size=50, verbose=0)
    assert int(model.kernel_optimizer.iterations.numpy()) == 1
    kernel_ids = {id(v) for v in model.refinement.trainable_variables}
    assert kernel_ids and not kernel_ids & {id(v) for v in model.network_variables}


def test_keras_round_trip_keeps_both_optimizers_beta_and_kernel(tmp_path):
    model = _compile(_model(kernel="hmc", preconditioner="tril", mcmc_start_epoch=0))
    x = _images(100)
    model.fit(x, epochs=1, batch_size=50, verbose=0)
    path = str(tmp_path / "smvae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, tf_smvae.SpeedMeasureVAE)
    np.testing.assert_array_equal(loaded.reconstruct(x[:4]), model.reconstruct(x[:4]))
    for a, b in zip(_kernel_state(loaded), _kernel_state(model)):
        np.testing.assert_array_equal(a, b)
    for name in ("optimizer", "kernel_optimizer"):
        ours, theirs = getattr(model, name), getattr(loaded, name)
        assert len(ours.variables) == len(theirs.variables)
        for a, b in zip(ours.variables, theirs.variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(loaded.refine(x[:3], 2, seed=1), model.refine(x[:3], 2, seed=1))
    clone = tf_smvae.SpeedMeasureVAE.from_config(model.get_config())
    assert clone.refinement.get_config() == model.refinement.get_config()


def test_evaluation_never_adapts():
    model = _compile(_model(kernel="hmc", adaptation="dual_averaging", preconditioner="identity"))
    x = _images(100)
    model.fit(x, epochs=1, batch_size=50, verbose=0)
    before = _kernel_state(model)
    tf_smvae.evaluation.log_likelihood(model, x[:10], num_samples=20, seed=0)
    model.refine(x[:5], 3, seed=0)
    model.evaluate(x, batch_size=50, verbose=0)
    for a, b in zip(before, _kernel_state(model)):
        np.testing.assert_array_equal(a, b)
    # Dual averaging evaluates with h-bar, trains with h.
    refinement = model.refinement
    np.testing.assert_allclose(
        refinement.step_size(training=False), refinement.dual_averaging.averaged_step_size
    )


def test_mcmc_proposal_keeps_the_estimator_exact_on_the_linear_model():
    # The chains only move the proposal's centre; with the linear-Gaussian model the IS
    # estimate must still equal the exact log p(x) (tolerance as for the plain VAE).
    case = LinearGaussianCase(num_points=10)
    model = _linear_model(case, init_step_size=0.3, num_mcmc_steps=5)
    for proposal in ("mean", "mixture"):
        model.eval_proposal = proposal
        result = tf_smvae.evaluation.log_likelihood(
            model, case.x, num_samples=5000, tau=1.5, seed=1
        )
        error = result.per_example - case.exact_log_likelihood()
        assert abs(error.mean()) < 0.05 and np.abs(error).max() < 0.15, proposal


def test_refine_moves_samples_toward_the_exact_posterior():
    # MALA chains from a deliberately wrong start (encoder mean shifted by +2) must end
    # near the exact posterior mean of the linear model.
    case = LinearGaussianCase(num_points=6)
    model = _linear_model(case, init_step_size=0.2)
    x = tf.constant(np.repeat(case.x, 400, axis=0))
    exact_mean = (case.x.reshape(6, -1) - case.bias) @ case.mean_map.T
    start = model.encode(x)[0] + 2.0
    target = lambda z: model.log_joint(x, z)  # noqa: E731
    results = model.refinement.sample(target, start, tf.constant([0, 3]), num_steps=300)
    means = results.final_state.numpy().reshape(6, 400, -1).mean(1)
    np.testing.assert_allclose(means, exact_mean, atol=0.15)
