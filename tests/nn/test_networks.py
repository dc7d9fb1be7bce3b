"""Encoders and decoders: shapes, scale functions, registry, config and serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_smvae import nn
from tf_smvae.util.errors import ConfigError

SHAPES = [(28, 28, 1), (32, 32, 3)]
NAMES = ["mlp", "conv"]
# Small networks keep the tests fast; the defaults are exercised in test_default_sizes.
SMALL = {"mlp": {"hidden_units": (16, 16)}, "conv": {"filters": (4, 8), "hidden_units": (16,)}}


def _images(shape, batch=3, seed=0):
    return np.random.RandomState(seed).uniform(size=(batch, *shape)).astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_output_shapes_and_weights(name, shape):
    encoder = nn.make_encoder(name, shape, latent_dim=5, **SMALL[name])
    decoder = nn.make_decoder(name, shape, latent_dim=5, num_params=2, **SMALL[name])
    assert encoder.trainable_weights and decoder.trainable_weights  # built at construction
    loc, scale = encoder(_images(shape))
    assert loc.shape == (3, 5) and scale.shape == (3, 5)
    assert decoder(loc).shape == (3, *shape, 2)


@pytest.mark.parametrize("name", NAMES)
def test_extra_leading_dims_match_flattened(name):
    shape = (28, 28, 1)
    encoder = nn.make_encoder(name, shape, latent_dim=4, **SMALL[name])
    decoder = nn.make_decoder(name, shape, latent_dim=4, num_params=1, **SMALL[name])
    z = np.random.RandomState(1).normal(size=(2, 3, 4)).astype(np.float32)
    params = decoder(z)
    assert params.shape == (2, 3, *shape, 1)
    np.testing.assert_allclose(params, np.reshape(decoder(z.reshape(6, 4)), params.shape), 1e-5)
    x = _images(shape, batch=6).reshape(2, 3, *shape)
    loc, _ = encoder(x)
    np.testing.assert_allclose(loc, np.reshape(encoder(x.reshape(6, *shape))[0], (2, 3, 4)), 1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_scale_functions(name):
    """Same weights: softplus(raw) and exp(0.5 raw) must come from one raw output."""
    shape = (28, 28, 1)
    softplus = nn.make_encoder(name, shape, 4, scale_fn="softplus", **SMALL[name])
    exp = nn.make_encoder(name, shape, 4, scale_fn="exp", **SMALL[name])
    exp.set_weights(softplus.get_weights())
    x = 3.0 * _images(shape, batch=4)
    loc_s, scale_s = softplus(x)
    loc_e, scale_e = exp(x)
    assert np.all(scale_s > 0.0) and np.all(scale_e > 0.0)
    np.testing.assert_allclose(loc_s, loc_e)
    raw = np.log(np.expm1(np.asarray(scale_s, np.float64)))
    np.testing.assert_allclose(np.log(scale_e), 0.5 * raw, atol=1e-4)


def test_default_sizes():
    encoder = nn.MLPEncoder(input_shape=(28, 28, 1), latent_dim=10)
    assert [w.shape for w in encoder.trainable_weights[::2]] == [(784, 200), (200, 200), (200, 20)]
    conv = nn.ConvDecoder(output_shape=(32, 32, 3), latent_dim=8, num_params=1)
    assert conv(tf.zeros([2, 8])).shape == (2, 32, 32, 3, 1)


@pytest.mark.parametrize("name", NAMES)
def test_get_config_round_trip(name):
    shape = (32, 32, 3)
    network = nn.NETWORKS.get(name)
    encoder = nn.make_encoder(name, shape, 3, scale_fn="exp", **SMALL[name])
    decoder = nn.make_decoder(name, shape, 3, 2, activation="tanh", **SMALL[name])
    encoder2 = network.encoder_cls.from_config(encoder.get_config())
    decoder2 = network.decoder_cls.from_config(decoder.get_config())
    assert encoder2.get_config() == encoder.get_config()
    assert decoder2.get_config() == decoder.get_config()
    encoder2.set_weights(encoder.get_weights())
    decoder2.set_weights(decoder.get_weights())
    x = _images(shape)
    for a, b in zip(encoder(x), encoder2(x)):
        np.testing.assert_array_equal(a, b)
    z = encoder(x)[0]
    np.testing.assert_array_equal(decoder(z), decoder2(z))


@pytest.mark.parametrize("name", NAMES)
def test_keras_serialization_round_trip(name):
    shape = (28, 28, 1)
    encoder = nn.make_encoder(name, shape, 3, **SMALL[name])
    decoder = nn.make_decoder(name, shape, 3, 1, **SMALL[name])
    for layer in (encoder, decoder):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(restored) is type(layer)
        assert restored.get_config() == layer.get_config()
        restored.set_weights(layer.get_weights())
    x = _images(shape)
    np.testing.assert_array_equal(restored(encoder(x)[0]), decoder(encoder(x)[0]))


def test_seeded_initialisation_is_reproducible():
    a = nn.MLPEncoder((4, 4, 1), 2, hidden_units=(8,), seed=7)
    b = nn.MLPEncoder((4, 4, 1), 2, hidden_units=(8,), seed=7)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    # Different sub-layers get different seeds.
    assert not np.allclose(a.get_weights()[0][:8, :2], a.get_weights()[2][:8, :2])


def test_unknown_names_raise_config_error():
    with pytest.raises(ConfigError, match="mlp"):
        nn.make_encoder("resnet", (28, 28, 1), 2)
    with pytest.raises(ConfigError, match="known"):
        nn.make_decoder("resnet", (28, 28, 1), 2, 1)
    with pytest.raises(ConfigError, match="scale_fn"):
        nn.make_encoder("mlp", (28, 28, 1), 2, scale_fn="relu")


@pytest.mark.parametrize("shape", [(30, 30, 1), (28, 28), (28, 26, 3), (784,)])
def test_unsupported_conv_shape(shape):
    with pytest.raises(ConfigError, match="input_shape"):
        nn.ConvEncoder(shape, 2)
    with pytest.raises(ConfigError, match="output_shape"):
        nn.ConvDecoder(shape, 2, 1)


def test_bad_sizes():
    with pytest.raises(ConfigError, match="latent_dim"):
        nn.MLPEncoder((4,), 0)
    with pytest.raises(ConfigError, match="input_shape"):
        nn.MLPEncoder((0, 3), 2)


@pytest.mark.parametrize("name", NAMES)
def test_xla_compiles_and_gradients_flow(name):
    shape = (28, 28, 1)
    encoder = nn.make_encoder(name, shape, 3, **SMALL[name])
    decoder = nn.make_decoder(name, shape, 3, 1, **SMALL[name])
    variables = encoder.trainable_variables + decoder.trainable_variables

    @tf.function(jit_compile=True)
    def loss_and_grads(x):
        with tf.GradientTape() as tape:
            loc, scale = encoder(x)
            loss = tf.reduce_sum(decoder(loc + scale) ** 2)
        return loss, tape.gradient(loss, variables)

    loss, grads = loss_and_grads(tf.constant(_images(shape)))
    assert np.isfinite(loss)
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)
