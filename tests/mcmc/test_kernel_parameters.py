"""Tests of the `KernelParameters` layer."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_smvae import mcmc
from tf_smvae.util.errors import ConfigError


@pytest.mark.parametrize("bijector", ["softplus", "exp"])
@pytest.mark.parametrize("preconditioner", ["identity", "diag", "tril"])
def test_initial_values_are_a_scaled_identity(preconditioner, bijector):
    params = mcmc.KernelParameters(
        4,
        preconditioner,
        init_step_size=0.3,
        init_scale=2.0,
        step_size_bijector=bijector,
        dtype="float64",
    )
    np.testing.assert_allclose(params.step_size.numpy(), 0.3, rtol=1e-6)
    scale = 1.0 if preconditioner == "identity" else 2.0
    np.testing.assert_allclose(params.dense_scale_tril().numpy(), scale * np.eye(4), atol=1e-6)
    expected_rank = {"identity": None, "diag": 1, "tril": 2}[preconditioner]
    compact = params.scale_tril
    assert (compact is None) if expected_rank is None else compact.shape.rank == expected_rank
    np.testing.assert_allclose(params.log_det_scale.numpy(), 4 * math.log(scale), atol=1e-5)
    np.testing.assert_allclose(
        params.log_det_hc.numpy(), 4 * math.log(0.3) + 4 * math.log(scale), atol=1e-5
    )
    assert len(params.trainable_variables) == (1 if preconditioner == "identity" else 2)


def test_tril_is_lower_triangular_with_positive_diagonal():
    params = mcmc.KernelParameters(3, "tril")
    params.unconstrained_scale.assign(tf.constant([-5.0, 1.0, 2.0, -3.0, 0.5, -1.0]))
    scale = params.scale_tril.numpy()
    np.testing.assert_array_equal(np.triu(scale, 1), 0.0)
    assert np.all(np.diag(scale) > 0.0)
    np.testing.assert_allclose(
        params.log_det_scale.numpy(), np.sum(np.log(np.diag(scale))), rtol=1e-6
    )


def test_config_and_serialization_round_trip():
    params = mcmc.KernelParameters(
        5, "diag", init_step_size=0.2, init_scale=0.5, step_size_bijector="exp", name="kp"
    )
    params.unconstrained_scale.assign(tf.range(5, dtype=tf.float32) * 0.1)
    config = params.get_config()
    clone = mcmc.KernelParameters.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(params))
    assert isinstance(restored, mcmc.KernelParameters)
    assert restored.get_config() == config
    restored.set_weights(params.get_weights())
    np.testing.assert_allclose(restored.scale_tril.numpy(), params.scale_tril.numpy())
    np.testing.assert_allclose(restored.step_size.numpy(), params.step_size.numpy())


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="preconditioner"):
        mcmc.KernelParameters(3, "full")
    with pytest.raises(ConfigError, match="step_size_bijector"):
        mcmc.KernelParameters(3, step_size_bijector="relu")
    with pytest.raises(ConfigError):
        mcmc.KernelParameters(3, init_step_size=-1.0)


@pytest.mark.parametrize("preconditioner", ["identity", "diag", "tril"])
def test_assign_sets_step_size_and_a_diagonal_scale(preconditioner):
    params = mcmc.KernelParameters(3, preconditioner, init_step_size=0.1)
    params.assign(step_size=0.37, scale_diag=[0.5, 2.0, 0.01])
    np.testing.assert_allclose(params.step_size.numpy(), 0.37, rtol=1e-5)
    expected = np.eye(3) if preconditioner == "identity" else np.diag([0.5, 2.0, 0.01])
    np.testing.assert_allclose(params.dense_scale_tril().numpy(), expected, rtol=1e-4, atol=1e-6)
    params.assign(step_size=0.2)  # C kept
    np.testing.assert_allclose(params.dense_scale_tril().numpy(), expected, rtol=1e-4, atol=1e-6)
