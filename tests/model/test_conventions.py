"""Keras conventions a user relies on: seed streams, data forms, short reprs."""

import dataclasses

import keras
import numpy as np
import pytest

import tf_smvae
from tf_smvae.evaluation.log_likelihood import LogLikelihoodResult
from tf_smvae.util.errors import DataError

_SMALL = {"hidden_units": (16,)}


def _images(num=40, seed=0):
    return (np.random.default_rng(seed).random((num, 28, 28, 1)) > 0.7).astype(np.float32)


def test_sample_and_refine_without_a_seed_draw_from_the_model_stream():
    model = tf_smvae.SpeedMeasureVAE(
        (28, 28, 1), 3, kernel="mala", num_mcmc_steps=2, network_kwargs=_SMALL
    )
    x = _images(4)
    first, second = model.sample(3), model.sample(3)
    assert first.shape == (3, 28, 28, 1)
    assert not np.allclose(first, second)  # the stream moved on
    np.testing.assert_array_equal(model.sample(3, seed=5), model.sample(3, seed=5))
    a, b = model.refine(x), model.refine(x)
    assert a.shape == (4, 3) and not np.allclose(a, b)
    # The stream is the model's: the same model state gives the same draws.
    twin = tf_smvae.SpeedMeasureVAE.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    np.testing.assert_array_equal(twin.sample(3), model.sample(3))


def test_fit_with_targets_is_a_clear_error():
    model = tf_smvae.VAE((28, 28, 1), 2, network_kwargs=_SMALL)
    model.compile(optimizer="adam")
    x = _images()
    with pytest.raises(DataError, match=r"fit\(y\)"):
        model.fit(x, x, epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"fit\(y\)"):
        model.fit(x, y=np.zeros(len(x)), epochs=1, verbose=0)
    # Images alone, with a bare array or a 1-tuple as validation data, are fine.
    history = model.fit(x, epochs=1, batch_size=20, verbose=0, validation_data=x[:20])
    assert "val_loss" in history.history
    history = model.fit(x, epochs=1, batch_size=20, verbose=0, validation_data=(x[:20],))
    assert "val_loss" in history.history


def test_log_likelihood_result_has_a_short_repr_and_an_ess_hint():
    result = LogLikelihoodResult(
        log_likelihood=-100.123456,
        bits_per_dim=0.18,
        ess=14.0,
        per_example=np.full(10000, -100.0),
        ess_per_example=np.full(10000, 14.0),
        num_samples=1000,
        tau=1.0,
        seconds=3.2,
    )
    text = repr(result)
    assert len(text) < 200 and "-100.123" in text and "14.0 of S=1000" in text
    hint = result.low_ess_hint()
    assert "1.4 %" in hint and "--defensive_tau, e.g. 4" in hint and "--tau=2;" in hint
    # The hint never suggests the tau this estimate already used.
    wide = dataclasses.replace(result, tau=1.5, defensive_tau=4.0)
    hint = wide.low_ess_hint()
    assert "--tau=3;" in hint and "used 1.5" in hint and "above 4" in hint
    healthy = LogLikelihoodResult(-1.0, None, 60.0, np.zeros(2), np.zeros(2), 1000, 1.0, 1.0)
    assert healthy.low_ess_hint() is None


def test_keras_fit_accepts_a_dataset_of_image_label_pairs():
    import tensorflow as tf

    model = tf_smvae.VAE((28, 28, 1), 2, network_kwargs=_SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = _images()
    pairs = tf.data.Dataset.from_tensor_slices((x, np.arange(len(x)))).batch(20)
    history = model.fit(pairs, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_fit_on_a_dataset_uses_its_order_without_keras_shuffle_warning():
    import warnings

    import tensorflow as tf

    model = tf_smvae.VAE((28, 28, 1), 2, network_kwargs=_SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = tf.data.Dataset.from_tensor_slices(_images()).batch(20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data, epochs=1, verbose=0)
    assert not [w for w in caught if "shuffle" in str(w.message)]
