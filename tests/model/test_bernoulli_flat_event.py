"""The Bernoulli log-prob on the flattened event (an XLA-on-CPU speed fix) is unchanged."""

import numpy as np
import tensorflow as tf

from tf_smvae.model import likelihoods


def _reference(logits, x):
    # x log sigmoid(l) + (1 - x) log sigmoid(-l), summed over the (H, W, C) event.
    values = x * -np.logaddexp(0.0, -logits) + (1.0 - x) * -np.logaddexp(0.0, logits)
    return values.sum(axis=(-3, -2, -1))


def test_matches_the_formula_with_broadcast_leading_dims_static_and_dynamic():
    rng = np.random.default_rng(0)
    likelihood = likelihoods.make_likelihood("bernoulli", (5, 4, 1))
    params = rng.normal(scale=3.0, size=(3, 2, 5, 4, 1, 1)).astype(np.float32)
    x = (rng.random((2, 5, 4, 1)) > 0.5).astype(np.float32)
    expected = _reference(params[..., 0].astype(np.float64), x)
    static = likelihood.log_prob(params, x)
    assert static.shape == (3, 2)
    np.testing.assert_allclose(static, expected, rtol=1e-5)
    dynamic = tf.function(
        likelihood.log_prob,
        input_signature=[
            tf.TensorSpec([None, None, 5, 4, 1, 1]),
            tf.TensorSpec([None, 5, 4, 1]),
        ],
    )
    np.testing.assert_allclose(dynamic(params, x), expected, rtol=1e-5)
    # Gradients reach the logits: d/dl = x - sigmoid(l).
    logits = tf.constant(params)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        total = tf.reduce_sum(likelihood.log_prob(logits, x))
    grad = tape.gradient(total, logits)[..., 0]
    np.testing.assert_allclose(grad, x - 1.0 / (1.0 + np.exp(-params[..., 0])), atol=1e-6)
