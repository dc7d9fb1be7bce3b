"""The warm-up's precision estimate: P = -Cov(g, x) Cov(x)^-1 from chains' states x and
the log target's gradients g there, and the scale C = chol(P^-1) it gives.

For a Gaussian target g = -Sigma^-1 (x - mu) exactly, so the regression of the gradients on
the states returns Sigma^-1 however little (and wherever) the chains have spread; for other
targets it is an average Hessian over the states pooled. `SpeedMeasureAdaptation` sets C
from it at the ends of its covariance windows.
"""

import collections

import tensorflow as tf

from tf_smvae.util.registry import Registry

__all__ = [
    "COVARIANCE_ESTIMATES",
    "PooledMoments",
    "covariance_estimate_name",
    "empty_moments",
    "pooled_update",
    "scale_from_moments",
]

PooledMoments = collections.namedtuple(
    "PooledMoments", ["count", "mean", "m2", "grad_mean", "cross"]
)
PooledMoments.__doc__ = """Moments of states and their gradients over the steps of a window,
about one mean per group of chains (all chains, or each chain: `COVARIANCE_ESTIMATES`).

Fields:
  count: states pooled per group (scalar, the state dtype).
  mean: `[G, d]` each group's mean state x-bar (G = 1 or B).
  m2: `[d, d]` sum over states of (x - x-bar)(x - x-bar)^T.
  grad_mean: `[G, d]` each group's mean gradient g-bar of the log target.
  cross: `[d, d]` sum over states of (g - g-bar)(x - x-bar)^T.
"""

# How the states are grouped for the precision estimate (`estimate_covariance`).
COVARIANCE_ESTIMATES = Registry("covariance estimate")
COVARIANCE_ESTIMATES.register("across_chains")(
    "one mean for all chains: they share one target (converges fastest from a cold start)"
)
COVARIANCE_ESTIMATES.register("within_chains")(
    "a mean per chain: chains may target different posteriors of one shape (a VAE's batch)"
)

# Eigenvalues of the estimated precision below this fraction of the largest are raised to
# it (a non-log-concave region, or directions the chains did not explore).
PRECISION_EIGENVALUE_FLOOR = 1e-8


def pooled_update(moments, states, grads):
    """`PooledMoments` with one more step of `[B, d]` `states` and their `grads`.

    With `moments.mean` of shape `[1, d]` all chains are one group (Chan et al.'s
    parallel update); with `[B, d]` each chain is its own (Welford's update).
    """
    if moments.mean.shape[0] == 1:
        return _update_one_group(moments, states, grads)
    count = moments.count + 1.0
    delta, grad_delta = states - moments.mean, grads - moments.grad_mean
    mean = moments.mean + delta / count
    grad_mean = moments.grad_mean + grad_delta / count
    return PooledMoments(
        count,
        mean,
        moments.m2 + tf.matmul(delta, states - mean, transpose_a=True),
        grad_mean,
        moments.cross + tf.matmul(grads - grad_mean, delta, transpose_a=True),
    )


def _update_one_group(moments, states, grads):
    count_b = tf.cast(tf.shape(states)[0], states.dtype)
    mean_b = tf.reduce_mean(states, 0, keepdims=True)
    grad_mean_b = tf.reduce_mean(grads, 0, keepdims=True)
    centred, grads_centred = states - mean_b, grads - grad_mean_b
    count = moments.count + count_b
    weight = moments.count * count_b / count
    delta, grad_delta = mean_b - moments.mean, grad_mean_b - moments.grad_mean
    return PooledMoments(
        count,
        moments.mean + delta * count_b / count,
        moments.m2
        + tf.matmul(centred, centred, transpose_a=True)
        + tf.matmul(delta, delta, transpose_a=True) * weight,
        moments.grad_mean + grad_delta * count_b / count,
        moments.cross
        + tf.matmul(grads_centred, centred, transpose_a=True)
        + tf.matmul(grad_delta, delta, transpose_a=True) * weight,
    )


def scale_from_moments(moments):
    """chol(P^-1) for the precision P = -Cov(g, x) Cov(x)^-1 the moments imply.

    P is symmetrised and its eigenvalues floored at `PRECISION_EIGENVALUE_FLOOR` times
    the largest; Cov(x) gets a ridge of 1e-6 of its mean variance so that it inverts.
    """
    dtype = moments.m2.dtype
    eye = tf.eye(tf.shape(moments.m2)[0], dtype=dtype)
    covariance = moments.m2 + 1e-6 * tf.reduce_mean(tf.linalg.diag_part(moments.m2)) * eye
    # P^T = -Cov(x)^-1 Cov(x, g); the counts cancel.
    precision = -tf.transpose(tf.linalg.solve(covariance, tf.transpose(moments.cross)))
    eigenvalues, eigenvectors = tf.linalg.eigh(0.5 * (precision + tf.transpose(precision)))
    floor = PRECISION_EIGENVALUE_FLOOR * tf.reduce_max(tf.abs(eigenvalues))
    eigenvalues = tf.maximum(eigenvalues, floor)
    inverse = tf.matmul(eigenvectors / eigenvalues, eigenvectors, transpose_b=True)
    return tf.linalg.cholesky(0.5 * (inverse + tf.transpose(inverse)))


def covariance_estimate_name(value):
    """The registered name of `estimate_covariance` (`True` -> `across_chains`), or None."""
    if value is False or value is None:
        return None
    name = "across_chains" if value is True else value
    COVARIANCE_ESTIMATES.get(name, field="estimate_covariance")
    return name


def empty_moments(estimate, init_state):
    """Zero `PooledMoments` for `[B, d]` states grouped by `estimate` (its registered name)."""
    groups = 1 if estimate != "within_chains" else None
    dtype, num_dims = init_state.dtype, init_state.shape[-1]
    means = tf.zeros([groups or tf.shape(init_state)[0], num_dims], dtype)
    square = tf.zeros([num_dims, num_dims], dtype)
    return PooledMoments(tf.zeros([], dtype), means, square, means, square)
