"""Estimators of log|det(I - B)|, B = xi C^T Hess U(q) C, for the HMC proposal entropy.

Every estimator has the signature
`fn(target_log_prob_fn, state, scale_factor, scale_tril, seed, **options) -> LogDetResult`
with `state` the `[B, d]` points q (one per chain), `scale_factor` the scalar
xi = h^2 (L^2 - 1)/6 and `scale_tril` the preconditioner C (see `PreconditionedHMC`).
The Hessian is taken at `tf.stop_gradient(state)` and treated as a constant; the result is
differentiable in `scale_factor` and `scale_tril`.
"""

import collections

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.mcmc import _scale
from tf_smvae.util.registry import Registry
from tf_smvae.util.seeds import split_seed

__all__ = [
    "AUTO_EXACT_MAX_DIMS",
    "LOG_DET_ESTIMATORS",
    "LogDetResult",
    "auto_log_det",
    "exact_log_det",
    "hessian_vector_product",
    "potential_hessian",
    "stochastic_log_det",
]

LOG_DET_ESTIMATORS = Registry("entropy estimator")

# `auto` uses the exact estimator up to this latent dimension (see `auto_log_det`).
AUTO_EXACT_MAX_DIMS = 128

LogDetResult = collections.namedtuple(
    "LogDetResult", ["log_det", "penalty", "is_nonfinite"], defaults=(None,)
)
LogDetResult.__doc__ = """Output of a log-det estimator.

Fields:
  log_det: `[B]`, the estimate of log|det(I - B)| (its gradient estimates the true gradient).
  penalty: `[B]`, a non-negative penalty to subtract from the objective (0 unless asked for).
  is_nonfinite: `[B]` bool, the chain's Hessian (or a Hessian-vector product) was not
    finite; its `log_det` and `penalty` are then finite placeholders (computed from a zero
    Hessian) that the caller must drop.
"""


def _finite_rows(values, num_event_dims):
    """Returns `(values with non-finite chains zeroed, per-chain non-finite flag)`."""
    axes = list(range(-num_event_dims, 0))
    finite = tf.reduce_all(tf.math.is_finite(values), axis=axes)
    mask = tf.reshape(finite, tf.concat([tf.shape(finite), [1] * num_event_dims], 0))
    return tf.where(mask, values, tf.zeros_like(values)), ~finite


def _grads(target_log_prob_fn, state):
    with tf.GradientTape() as tape:
        tape.watch(state)
        target_log_prob = target_log_prob_fn(state)
    return tape.gradient(target_log_prob, state)


def potential_hessian(target_log_prob_fn, state):
    """Returns Hess U(state), U = -log pi, as a constant `[B, d, d]` (d HVPs, batched).

    Args:
      target_log_prob_fn: maps `[B, d]` to `[B]`; chain b must depend on row b only.
      state: `[B, d]`.
    """
    state = tf.stop_gradient(state)
    with tf.GradientTape() as tape:
        tape.watch(state)
        grads = _grads(target_log_prob_fn, state)
    return tf.stop_gradient(-tape.batch_jacobian(grads, state))


def hessian_vector_product(target_log_prob_fn, state, vector):
    """Returns Hess U(state) @ vector per chain, a constant `[B, d]` (backward-over-backward)."""
    state, vector = tf.stop_gradient(state), tf.stop_gradient(vector)
    with tf.GradientTape() as tape:
        tape.watch(state)
        inner = tf.reduce_sum(_grads(target_log_prob_fn, state) * vector)
    return tf.stop_gradient(-tape.gradient(inner, state))


def _as_tensors(state, scale_factor, scale_tril):
    state = tf.convert_to_tensor(state)
    scale_factor = tf.convert_to_tensor(scale_factor, dtype=state.dtype)
    if scale_tril is not None:
        scale_tril = tf.convert_to_tensor(scale_tril, dtype=state.dtype)
    return state, scale_factor, scale_tril


def _log_abs_det(matrix):
    """log|det M| by QR (XLA-safe), with gradient M^{-T} from the same factorisation."""
    constant = tf.stop_gradient(matrix)
    q, r = tf.linalg.qr(constant)
    diag = tf.linalg.diag_part(r)
    value = tf.reduce_sum(tf.math.log(tf.abs(diag)), axis=-1)
    inverse = tf.linalg.triangular_solve(r, tf.linalg.matrix_transpose(q), lower=False)
    surrogate = tf.linalg.trace(tf.linalg.matmul(inverse, matrix - constant))
    return value + surrogate


def _largest_eigenvalue(matrix):
    """Returns the largest eigenvalue of the symmetric `[..., d, d]` matrix, differentiable.

    The value is exact (`eigh` of the constant matrix); the gradient is v^T (dM) v for the
    top eigenvector v, the derivative of a simple eigenvalue.
    """
    constant = tf.stop_gradient(matrix)
    _, eigenvectors = tf.linalg.eigh(0.5 * (constant + tf.linalg.matrix_transpose(constant)))
    top = eigenvectors[..., :, -1]
    return tf.reduce_sum(top * tf.linalg.matvec(matrix, top), axis=-1)


@LOG_DET_ESTIMATORS.register("exact")
def exact_log_det(
    target_log_prob_fn,
    state,
    scale_factor,
    scale_tril,
    seed=None,
    spectral_penalty=10.0,
    spectral_bound=1.0,
    **options,
):
    """Exact log|det(I - xi C^T H C)| from the dense Hessian H (deterministic).

    Past the barrier of the local-Gaussian entropy (an eigenvalue lambda of B = xi C^T H C at
    or above 1, where det(I - B) changes sign) the approximation means nothing: such a chain
    keeps its value but contributes no gradient, and `penalty` =
    `spectral_penalty` * d * relu(lambda_max - `spectral_bound`)^2 pulls (h, C) back, as in
    `stochastic_log_det`. With the default bound 1 the penalty is 0 inside the barrier.
    A chain whose Hessian is not finite is flagged in `is_nonfinite` and computed from a
    zero Hessian, so it puts no NaN into anyone's gradient.

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]`.
      state: `[B, d]` points q where the Hessian of U is taken.
      scale_factor: scalar xi.
      scale_tril: C, `None`, `[d]` or `[d, d]`.
      seed: unused.
      spectral_penalty: Python float >= 0, weight of the barrier penalty (0 turns it off).
      spectral_bound: Python float, the largest eigenvalue the penalty allows.
      **options: unused (accepted so that estimators are interchangeable).

    Returns:
      `LogDetResult`.
    """
    del seed, options
    state, scale_factor, scale_tril = _as_tensors(state, scale_factor, scale_tril)
    hessian, nonfinite = _finite_rows(potential_hessian(target_log_prob_fn, state), 2)
    num_dims = hessian.shape[-1]
    quadratic = scale_factor * _scale.quadratic_form_matrix(scale_tril, hessian)
    log_det = _log_abs_det(tf.eye(num_dims, dtype=hessian.dtype) - quadratic)
    largest = _largest_eigenvalue(quadratic)
    past_barrier = tf.stop_gradient(largest) >= 1.0
    log_det = tf.where(past_barrier, tf.stop_gradient(log_det), log_det)
    penalty = tf.zeros_like(log_det)
    if spectral_penalty > 0.0:
        penalty = (spectral_penalty * num_dims) * tf.square(tf.nn.relu(largest - spectral_bound))
    return LogDetResult(log_det, penalty, nonfinite)


def _quadratic_surrogate(scale_factor, scale_tril, left, right, hessian_right, hessian_left):
    """xi (C l)^T H (C r) for constant l, r and H, differentiable in (xi, C).

    `hessian_right` = H C r and `hessian_left` = H C l are constants; the value is exact and
    the gradient is that of the bilinear form with H held fixed (H is symmetric).
    """
    constant_factor = tf.stop_gradient(scale_factor)
    left_scaled = _scale.matvec(scale_tril, left)
    right_scaled = _scale.matvec(scale_tril, right)
    value = constant_factor * tf.reduce_sum(tf.stop_gradient(left_scaled) * hessian_right, -1)
    surrogate = scale_factor * tf.reduce_sum(left_scaled * hessian_right, -1) + constant_factor * (
        tf.reduce_sum(right_scaled * hessian_left, -1)
    )
    return surrogate - tf.stop_gradient(value)


def _roulette_num_terms(seed, batch_shape, num_exact_terms, continue_prob, max_terms, dtype):
    """Per-chain number of series terms, n_exact + N with P(N >= m) = continue_prob^m."""
    uniform = tf.random.stateless_uniform(batch_shape, seed=seed, dtype=dtype)
    num_extra = tf.floor(tf.math.log(uniform) / tf.math.log(tf.cast(continue_prob, dtype)))
    return tf.minimum(num_exact_terms + num_extra, float(max_terms))


_Series = collections.namedtuple(
    "_Series",
    ["value", "neumann", "hessian_probe", "direction", "hessian_direction", "is_nonfinite"],
)


@LOG_DET_ESTIMATORS.register("stochastic")
def stochastic_log_det(
    target_log_prob_fn,
    state,
    scale_factor,
    scale_tril,
    seed,
    num_exact_terms=2,
    continue_prob=0.5,
    max_terms=32,
    spectral_penalty=10.0,
    spectral_bound=0.9,
):
    """Unbiased Hutchinson / Russian-roulette estimate of log det(I - B) and its gradient.

    With a Rademacher probe r, log det(I - B) = -sum_k E[r^T B^k r]/k is truncated at
    n = `num_exact_terms` + N, N geometric with P(N >= m) = `continue_prob`^m, and term k > n_exact
    weighted by 1/P(N >= k - n_exact): the value is unbiased. The gradient uses the surrogate
    -sg(a)^T (dB) r with a = sum_{j<n} w_{j+1} B^j r, a Neumann series for (I - B)^{-1} r
    truncated by the same roulette, so it is unbiased for -tr((I - B)^{-1} dB). Requires the
    spectral radius of B below 1 (finite variance needs it below sqrt(`continue_prob`)).

    The series' own power iterates give, at no extra Hessian-vector product, a Rayleigh
    quotient rho <= rho(B) per chain (B is symmetric). Two safeguards use it, because an
    adapted HMC kernel presses against rho(B) = 1, where the local-Gaussian entropy has its
    barrier and the series stops converging: a chain with |rho| >= 1 contributes the value
    but no gradient (its series diverges; a gradient from it is noise of size rho^n), and
    `penalty` = `spectral_penalty` * d * relu(|rho| - `spectral_bound`)^2 (d the dimension,
    so the penalty scales with the entropy it competes with) pulls (h, C) back below the
    bound.

    Args:
      target_log_prob_fn, state, scale_factor, scale_tril: as `exact_log_det`.
      seed: int32[2]; split into the probe and the truncation seeds.
      num_exact_terms: Python int >= 1, terms always computed.
      continue_prob: Python float in (0, 1), geometric continuation probability.
      max_terms: Python int, hard cap on terms (a bias only with probability
        `continue_prob`^(max_terms - num_exact_terms)).
      spectral_penalty: Python float >= 0, weight of the penalty (0 turns it off).
      spectral_bound: Python float, the bound on |rho| the penalty enforces.

    Returns:
      `LogDetResult`; each chain uses one probe and one truncation.

    Raises:
      ValueError: if `num_exact_terms < 1` or `continue_prob` is not in (0, 1).

    #### References

    [1]: M. F. Hutchinson. A stochastic estimator of the trace of the influence matrix for
         Laplacian smoothing splines. Communications in Statistics, 1990.
    [2]: Anne-Marie Lyne et al. On Russian roulette estimates for Bayesian inference with
         doubly-intractable likelihoods. Statistical Science, 2015.
    [3]: Ricky T. Q. Chen, Jens Behrmann, David Duvenaud and Joern-Henrik Jacobsen. Residual
         flows for invertible generative modeling. NeurIPS 2019.
    """
    if num_exact_terms < 1 or not 0.0 < continue_prob < 1.0:
        raise ValueError("Need num_exact_terms >= 1 and 0 < continue_prob < 1.")
    state, scale_factor, scale_tril = _as_tensors(state, scale_factor, scale_tril)
    state = tf.stop_gradient(state)
    dtype = state.dtype
    probe_seed, roulette_seed = split_seed(seed, 2, salt="stochastic_log_det")
    probe = tfp.random.rademacher(tf.shape(state), dtype=dtype, seed=probe_seed)
    num_terms = _roulette_num_terms(
        roulette_seed, tf.shape(state)[:-1], num_exact_terms, continue_prob, max_terms, dtype
    )
    series = _roulette_series(
        target_log_prob_fn,
        state,
        scale_factor,
        scale_tril,
        probe,
        num_terms,
        num_exact_terms,
        continue_prob,
        max_terms,
    )
    constant_scale = None if scale_tril is None else tf.stop_gradient(scale_tril)
    hessian_neumann, neumann_nonfinite = _finite_rows(
        hessian_vector_product(
            target_log_prob_fn, state, _scale.matvec(constant_scale, series.neumann)
        ),
        1,
    )
    gradient_part = _quadratic_surrogate(
        scale_factor, scale_tril, series.neumann, probe, series.hessian_probe, hessian_neumann
    )
    gradient_part = gradient_part - tf.stop_gradient(gradient_part)
    # Rayleigh quotient of B at the last power iterate, differentiable in (xi, C).
    rayleigh = _quadratic_surrogate(
        scale_factor,
        scale_tril,
        series.direction,
        series.direction,
        series.hessian_direction,
        series.hessian_direction,
    )
    converges = tf.abs(tf.stop_gradient(rayleigh)) < 1.0
    log_det = tf.stop_gradient(series.value) - tf.where(
        converges, gradient_part, tf.zeros_like(gradient_part)
    )
    penalty = tf.zeros_like(log_det)
    if spectral_penalty > 0.0:
        excess = tf.nn.relu(tf.abs(rayleigh) - spectral_bound)
        penalty = (spectral_penalty * state.shape[-1]) * tf.square(excess)
    return LogDetResult(log_det, penalty, series.is_nonfinite | neumann_nonfinite)


def _roulette_series(
    target_log_prob_fn,
    state,
    scale_factor,
    scale_tril,
    probe,
    num_terms,
    num_exact_terms,
    continue_prob,
    max_terms,
):
    """Returns the `_Series` of the roulette-truncated series (all constants).

    value = -sum_{k<=n} w_k r^T B^k r / k, neumann = sum_{j<n} w_{j+1} B^j r, hessian_probe
    = H C r, direction = B^{n-1} r / ||B^{n-1} r|| (the last power iterate used),
    hessian_direction = H C direction and is_nonfinite flags chains with a non-finite
    Hessian-vector product (zeroed so that the series stays finite).
    """
    dtype = state.dtype
    constant_factor = tf.stop_gradient(scale_factor)
    constant_scale = None if scale_tril is None else tf.stop_gradient(scale_tril)
    tiny = tf.constant(np.finfo(dtype.as_numpy_dtype).tiny, dtype)

    def body(k, previous, value, neumann, hessian_probe, direction, hessian_direction, bad):
        hessian_vector, nonfinite = _finite_rows(
            hessian_vector_product(
                target_log_prob_fn, state, _scale.matvec(constant_scale, previous)
            ),
            1,
        )
        current = constant_factor * _scale.matvec_transpose(constant_scale, hessian_vector)
        order = tf.cast(k, dtype)
        active = order <= num_terms
        weight = tf.where(
            order <= num_exact_terms,
            tf.ones_like(num_terms),
            tf.pow(tf.cast(continue_prob, dtype), num_exact_terms - order),
        ) * tf.cast(active, dtype)
        value = value - weight * tf.reduce_sum(probe * current, -1) / order
        neumann = neumann + weight[..., tf.newaxis] * previous
        hessian_probe = tf.where(k == 1, hessian_vector, hessian_probe)
        inverse_norm = 1.0 / tf.maximum(tf.norm(previous, axis=-1, keepdims=True), tiny)
        direction = tf.where(active[..., tf.newaxis], previous * inverse_norm, direction)
        hessian_direction = tf.where(
            active[..., tf.newaxis], hessian_vector * inverse_norm, hessian_direction
        )
        bad = bad | (nonfinite & active)
        return k + 1, current, value, neumann, hessian_probe, direction, hessian_direction, bad

    zeros = tf.zeros_like(state)
    no_chain = tf.zeros_like(num_terms, dtype=tf.bool)
    outputs = tf.while_loop(
        lambda k, *_: tf.cast(k, dtype) <= tf.reduce_max(num_terms),
        body,
        (tf.constant(1), probe, tf.zeros_like(num_terms), zeros, zeros, zeros, zeros, no_chain),
        maximum_iterations=max_terms,
    )
    return _Series(*outputs[2:])


@LOG_DET_ESTIMATORS.register("auto")
def auto_log_det(
    target_log_prob_fn, state, scale_factor, scale_tril, seed=None, exact_max_dims=None, **options
):
    """`exact_log_det` if d <= `exact_max_dims` (static), else `stochastic_log_det`.

    The threshold is where `exact` stops being the cheaper estimator per unit of gradient
    variance (seconds per gradient x its variance over fresh states and seeds), measured by
    `bench/entropy_estimators.py` on the MLP decoder target at median rho(B) = 0.6, batch
    100, 2 CPU cores: stochastic / exact = 239 (d = 8), 126 (16), 44 (32), 13 (64), 3.6
    (96), 3.5 (128). The stochastic estimator's own noise is ~50-100x the noise from the
    chain states that both share, so `exact` wins while its d Hessian-vector products
    and O(d^3) QR stay affordable.
    """
    if exact_max_dims is None:
        exact_max_dims = AUTO_EXACT_MAX_DIMS
    name = "exact" if state.shape[-1] <= exact_max_dims else "stochastic"
    estimator = LOG_DET_ESTIMATORS.get(name)
    return estimator(target_log_prob_fn, state, scale_factor, scale_tril, seed, **options)
