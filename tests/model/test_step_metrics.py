"""StepMetrics: example-weighted means and sums of per-step scalars in two variables."""

import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tf_smvae.model.step_metrics import StepMetrics


def _steps():
    rng = np.random.default_rng(3)
    # (values, examples): the last step is smaller and logs only a subset.
    steps = [
        ({"loss": rng.normal(), "kl": rng.normal(), "rejected": 2.0}, 100.0),
        ({"loss": rng.normal(), "kl": rng.normal(), "rejected": 5.0}, 100.0),
        ({"loss": rng.normal(), "rejected": 1.0}, 37.0),
    ]
    return steps


def _expected(steps):
    loss = sum(v["loss"] * n for v, n in steps) / sum(n for _, n in steps)
    kl = sum(v["kl"] * n for v, n in steps if "kl" in v) / sum(n for v, n in steps if "kl" in v)
    return {"loss": loss, "kl": kl, "rejected": 8.0}


@pytest.mark.parametrize("jit_compile", [False, True])
def test_means_are_over_examples_and_sums_add(jit_compile):
    metrics = StepMetrics(["loss", "kl", "rejected"], sum_names=["rejected"])
    steps = _steps()

    @tf.function(jit_compile=jit_compile)
    def update(values, examples):
        metrics.update_state(values, examples)

    for values, examples in steps:
        update({k: tf.constant(v, tf.float32) for k, v in values.items()}, tf.constant(examples))
    result = {k: float(v) for k, v in metrics.result().items()}
    expected = _expected(steps)
    assert result == pytest.approx(expected, rel=1e-6)
    assert float(metrics.value_of("kl")) == pytest.approx(expected["kl"], rel=1e-6)


def test_reset_and_views():
    metrics = StepMetrics(["loss", "kl", "rejected"], sum_names=["rejected"])
    for values, examples in _steps():
        metrics.update_state(values, examples)
    views = metrics.views()
    assert [v.name for v in views] == ["loss", "kl", "rejected"]
    assert float(views[2].result()) == 8.0
    views[0].reset_state()  # Keras resets every entry of model.metrics
    assert all(float(v.result()) == 0.0 for v in views)
    metrics.update_state({"kl": 3.0}, 10.0)
    assert float(views[1].result()) == 3.0 and float(views[0].result()) == 0.0
    assert views[0].variables == []  # the views own no variables
    with pytest.raises(NotImplementedError, match="view"):
        views[0].update_state(1.0)


def test_bad_names():
    with pytest.raises(ValueError, match="unique"):
        StepMetrics(["a", "a"])
    with pytest.raises(ValueError, match="sum_names"):
        StepMetrics(["a"], sum_names=["b"])
    metrics = StepMetrics(["a"])
    with pytest.raises(KeyError, match="b"):
        metrics.update_state({"b": 1.0}, 1.0)


def test_vae_logs_keep_names_and_order():
    """fit/evaluate log the same names as one Keras metric per name, in the same order."""
    model = tf_smvae.VAE((4, 4, 1), 2, seed=1)
    model.compile(optimizer="adam", jit_compile=True)
    x = (np.random.default_rng(0).random((30, 4, 4, 1)) > 0.5).astype("float32")
    history = model.fit(x, batch_size=8, epochs=1, verbose=0)
    assert sorted(history.history) == ["elbo", "kl", "loss", "reconstruction"]
    as_list = model.evaluate(x, batch_size=8, verbose=0)
    as_dict = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert [m.name for m in model.metrics] == ["loss", "elbo", "reconstruction", "kl"]
    assert len(as_list) == 4
    # The same seed stream advances between the two calls, so compare the structure and
    # the identity loss == -elbo in each.
    assert as_list[0] == pytest.approx(-as_list[1], rel=1e-6)
    assert as_dict["loss"] == pytest.approx(-as_dict["elbo"], rel=1e-6)
    assert as_dict["elbo"] == pytest.approx(as_dict["reconstruction"] - as_dict["kl"], rel=1e-5)


def test_evaluation_repeats_and_leaves_the_training_stream():
    """Batch i of every evaluate call draws the same noise; the seed counter stays put."""
    model = tf_smvae.VAE((4, 4, 1), 2, seed=1)
    model.compile(optimizer="adam", jit_compile=True)
    x = (np.random.default_rng(0).random((30, 4, 4, 1)) > 0.5).astype("float32")
    state = model._seed_state.numpy().copy()
    first = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    second = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert first == second
    np.testing.assert_array_equal(model._seed_state.numpy(), state)
    # The noise differs between batches: one batch of 30 is not 4 batches' mean.
    whole = model.evaluate(x, batch_size=30, verbose=0, return_dict=True)
    assert whole["kl"] == pytest.approx(first["kl"], rel=1e-5)  # analytic, no noise
    assert whole["reconstruction"] != pytest.approx(first["reconstruction"], rel=1e-6)
