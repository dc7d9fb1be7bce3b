"""Priors against direct computations; KL; gradients; VampPrior follows the encoder."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae import nn
from tf_smvae.model import priors
from tf_smvae.util.errors import ConfigError

tfd = tfp.distributions

INPUT_SHAPE = (4, 4, 1)
LATENT_DIM = 3


def _rng(seed=0):
    return np.random.RandomState(seed)


def _encoder(seed=0):
    return nn.MLPEncoder(INPUT_SHAPE, LATENT_DIM, hidden_units=(8,), seed=seed)


def _numpy_mixture_log_prob(z, log_weights, locs, scales):
    """log sum_k w_k prod_j N(z_j; loc_kj, scale_kj), in float64; z [N, d] -> [N]."""
    z, locs, scales = (np.asarray(a, np.float64) for a in (z, locs, scales))
    diff = (z[:, None, :] - locs[None]) / scales[None]
    log_normal = -0.5 * diff**2 - np.log(scales[None]) - 0.5 * np.log(2 * np.pi)
    terms = np.asarray(log_weights, np.float64)[None] + log_normal.sum(-1)
    top = terms.max(-1, keepdims=True)
    return (top + np.log(np.exp(terms - top).sum(-1, keepdims=True)))[:, 0]


def _randomise(prior, seed=1):
    for i, weight in enumerate(prior.weights):
        weight.assign(0.5 * _rng(seed + i).normal(size=weight.shape))


def _make(name, **kwargs):
    return priors.make_prior(name, LATENT_DIM, INPUT_SHAPE, **kwargs)


def test_registry_and_attributes():
    assert priors.PRIORS.names() == ["mog", "standard_normal", "vamp"]
    assert _make("standard_normal").has_analytic_kl
    assert not _make("mog").has_analytic_kl
    assert not _make("vamp", num_components=5).has_analytic_kl


def test_standard_normal_log_prob_and_shapes():
    prior = _make("standard_normal")
    dist = prior.distribution()
    assert dist.batch_shape == [] and dist.event_shape == [LATENT_DIM]
    z = _rng().normal(size=(2, 5, LATENT_DIM)).astype(np.float32)
    expected = tf.reduce_sum(tfd.Normal(0.0, 1.0).log_prob(z), axis=-1)
    np.testing.assert_allclose(prior.log_prob(z), expected, rtol=1e-6)
    assert prior.sample(7, seed=1).shape == (7, LATENT_DIM)


def test_standard_normal_kl_closed_form_and_monte_carlo():
    prior = _make("standard_normal")
    loc = _rng().normal(size=(4, LATENT_DIM)).astype(np.float32)
    scale = _rng(1).uniform(0.2, 2.0, size=(4, LATENT_DIM)).astype(np.float32)
    kl = prior.kl_divergence(loc, scale).numpy()
    assert kl.shape == (4,)
    posterior = tfd.MultivariateNormalDiag(loc, scale)
    np.testing.assert_allclose(kl, tfd.kl_divergence(posterior, prior.distribution()), rtol=1e-5)
    # Monte-Carlo: 100000 draws; tolerance 5 standard errors of the estimate.
    z = posterior.sample(100000, seed=[0, 7])
    log_ratio = (posterior.log_prob(z) - prior.log_prob(z)).numpy()
    std_err = log_ratio.std(axis=0) / np.sqrt(len(log_ratio))
    assert np.all(np.abs(log_ratio.mean(axis=0) - kl) < 5 * std_err)


@pytest.mark.parametrize("name", ["mog", "vamp"])
def test_no_analytic_kl(name):
    with pytest.raises(NotImplementedError, match="analytic"):
        _make(name, num_components=4).kl_divergence(tf.zeros([2, 3]), tf.ones([2, 3]))


def test_mog_log_prob_matches_numpy():
    prior = _make("mog", num_components=4)
    assert [w.shape for w in prior.trainable_weights] == [(4,), (4, 3), (4, 3)]
    np.testing.assert_allclose(prior.scales, 1.0, rtol=1e-6)
    _randomise(prior)
    z = 1.5 * _rng(9).normal(size=(6, LATENT_DIM)).astype(np.float32)
    logits = prior.mixture_logits.numpy().astype(np.float64)
    log_weights = logits - np.log(np.exp(logits).sum())
    scales = np.log1p(np.exp(prior.unconstrained_scales.numpy().astype(np.float64)))
    expected = _numpy_mixture_log_prob(z, log_weights, prior.locs.numpy(), scales)
    np.testing.assert_allclose(prior.log_prob(z), expected, rtol=1e-5)
    dist = prior.distribution()
    assert dist.batch_shape == [] and dist.event_shape == [LATENT_DIM]


def test_mog_locs_are_seeded():
    a, b, c = _make("mog", seed=3), _make("mog", seed=3), _make("mog", seed=4)
    np.testing.assert_array_equal(a.locs, b.locs)
    assert not np.allclose(a.locs, c.locs)


def test_vamp_log_prob_is_the_current_encoders_mixture():
    encoder = _encoder()
    prior = _make("vamp", num_components=5)
    pseudo = prior.pseudo_inputs.numpy()
    assert pseudo.shape == (5, *INPUT_SHAPE)
    assert pseudo.min() >= 0.4 - 1e-6 and pseudo.max() <= 0.6 + 1e-6
    z = _rng().normal(size=(7, LATENT_DIM)).astype(np.float32)

    def direct():
        loc, scale = encoder(prior.pseudo_inputs)
        return _numpy_mixture_log_prob(z, np.full(5, -np.log(5.0)), loc, scale)

    dist = prior.distribution(encoder)
    assert dist.batch_shape == [] and dist.event_shape == [LATENT_DIM]
    before = prior.log_prob(z, encoder).numpy()
    np.testing.assert_allclose(before, direct(), rtol=1e-5)
    # New encoder weights -> new prior, recomputed at the next call.
    encoder.set_weights(
        [w + 0.3 * _rng(i).normal(size=w.shape) for i, w in enumerate(encoder.get_weights())]
    )
    after = prior.log_prob(z, encoder).numpy()
    assert np.max(np.abs(after - before)) > 1e-2
    np.testing.assert_allclose(after, direct(), rtol=1e-5)
    # New pseudo-inputs -> new prior too.
    prior.assign_pseudo_inputs(_rng(3).uniform(size=(5, *INPUT_SHAPE)) > 0.5)
    assert np.all((prior.pseudo_inputs.numpy() > 0.0) & (prior.pseudo_inputs.numpy() < 1.0))
    np.testing.assert_allclose(prior.log_prob(z, encoder), direct(), rtol=1e-5)


def test_vamp_needs_an_encoder():
    with pytest.raises(ValueError, match="encoder"):
        _make("vamp", num_components=2).distribution()


@pytest.mark.parametrize("name", ["mog", "vamp"])
def test_gradients_reach_every_trainable_weight(name):
    encoder = _encoder()
    prior = _make(name, num_components=4)
    variables = prior.trainable_variables + (encoder.trainable_variables if name == "vamp" else [])
    assert prior.trainable_variables
    z = tf.constant(_rng().normal(size=(8, LATENT_DIM)), tf.float32)

    @tf.function(jit_compile=True)
    def grads():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(prior.log_prob(z, encoder))
        return tape.gradient(loss, variables)

    for grad in grads():
        assert grad is not None and np.all(np.isfinite(grad)) and np.any(grad != 0.0)


@pytest.mark.parametrize("name", ["standard_normal", "mog", "vamp"])
def test_seeded_sampling_is_reproducible(name):
    encoder = _encoder()
    prior = _make(name, **({} if name == "standard_normal" else {"num_components": 4}))
    first = prior.sample(6, seed=[1, 2], encoder=encoder)
    assert first.shape == (6, LATENT_DIM)
    np.testing.assert_array_equal(first, prior.sample(6, seed=[1, 2], encoder=encoder))
    assert not np.allclose(first, prior.sample(6, seed=[1, 3], encoder=encoder))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("standard_normal", {}),
        ("mog", {"num_components": 3, "scale_init": 0.5, "seed": 2}),
        ("vamp", {"num_components": 3, "pseudo_input_range": (0.2, 0.7), "seed": 5}),
    ],
)
def test_config_and_serialization_round_trip(name, kwargs):
    encoder = _encoder()
    prior = _make(name, **kwargs)
    _randomise(prior)
    z = _rng().normal(size=(4, LATENT_DIM)).astype(np.float32)
    rebuilt = type(prior).from_config(prior.get_config())
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(prior))
    for other in (rebuilt, restored):
        assert type(other) is type(prior) and other.get_config() == prior.get_config()
        other.set_weights(prior.get_weights())
        np.testing.assert_array_equal(other.log_prob(z, encoder), prior.log_prob(z, encoder))


def test_bad_arguments():
    with pytest.raises(ConfigError, match="known"):
        _make("flow")
    with pytest.raises(ConfigError, match="input_shape"):
        priors.make_prior("vamp", LATENT_DIM)
    with pytest.raises(ConfigError, match="num_components"):
        _make("mog", num_components=0)
    with pytest.raises(ConfigError, match="pseudo_input_range"):
        _make("vamp", pseudo_input_range=(0.0, 0.5))
    with pytest.raises(ConfigError, match="latent_dim"):
        priors.make_prior("standard_normal", 0)
