"""Gaussian targets with known moments, shared by the MCMC tests."""

import collections

import numpy as np
import tensorflow as tf

GaussianTarget = collections.namedtuple(
    "GaussianTarget", ["mean", "covariance", "precision", "log_prob"]
)


def make_gaussian(num_dims, log10_condition, seed, dtype=tf.float32, rotate=True):
    """Returns a Gaussian target with eigenvalues log-spaced over `log10_condition` decades."""
    rng = np.random.default_rng(seed)
    rotation = (
        np.linalg.qr(rng.normal(size=(num_dims, num_dims)))[0] if rotate else np.eye(num_dims)
    )
    eigenvalues = np.logspace(-log10_condition / 2, log10_condition / 2, num_dims)
    covariance = (rotation * eigenvalues) @ rotation.T
    mean = rng.normal(size=num_dims)
    precision = np.linalg.inv(covariance)
    precision_t = tf.constant(precision, dtype)
    mean_t = tf.constant(mean, dtype)

    def log_prob(state):
        centred = state - mean_t
        return -0.5 * tf.reduce_sum(centred * tf.linalg.matvec(precision_t, centred), axis=-1)

    return GaussianTarget(mean, covariance, precision, log_prob)
