"""The speed-measure objective F = log alpha + beta * H of one transition, and the beta rule.

The chain state z is a constant; the proposal z' = T(v | z; h, C) is rebuilt in closed form
from the recorded noise v (and, for HMC, the recorded interior gradients), so F is
differentiable in the step size h and the preconditioner C by reparameterisation. Nothing
here back-propagates through the target except in the `full` gradient mode.
"""

import collections
import math

import tensorflow as tf

from tf_smvae.mcmc import _proposal
from tf_smvae.mcmc import _scale
from tf_smvae.mcmc.log_det import LOG_DET_ESTIMATORS
from tf_smvae.util.registry import Registry

__all__ = [
    "GRADIENT_MODES",
    "SpeedMeasureGradients",
    "SpeedMeasureResults",
    "mean_over_chains",
    "proposal_entropy",
    "speed_measure_gradients",
    "speed_measure_objective",
    "update_entropy_weight",
]

GRADIENT_MODES = Registry("gradient mode")

SpeedMeasureResults = collections.namedtuple(
    "SpeedMeasureResults", ["objective", "log_accept_prob", "entropy", "penalty", "is_nonfinite"]
)
SpeedMeasureResults.__doc__ = """Per-chain terms of the speed measure of one transition.

Fields:
  objective: `[B]`, F = log_accept_prob + entropy_weight * (entropy - penalty)
    (differentiable; 0 for excluded chains, which carry no gradient). The penalty is a
    constraint on the entropy term, so it is weighted like it.
  log_accept_prob: `[B]`, min(0, -Delta) (0 for excluded chains).
  entropy: `[B]`, the proposal entropy H in nats (including the constant d/2 log(2 pi e)).
  penalty: `[B]`, the log-det estimator's spectral penalty (0 for MALA; for `exact` 0
    inside the barrier).
  is_nonfinite: `[B]` bool, the chain is excluded: its proposal, a recorded gradient, the
    trajectory midpoint, the Hessian there or the energy error was not finite. An excluded
    chain contributes nothing to the objective nor to its gradient, and the others'
    gradient is exactly what it is without it (average with `mean_over_chains`).
"""


@GRADIENT_MODES.register("stop_target_grads")
def _stop_target_grads(target_log_prob_fn, proposed_state, proposed_results, fallback_state, bad):
    """log pi(z') to first order around the recorded z'; grad log pi(z') a constant."""
    del target_log_prob_fn, fallback_state
    target_log_prob = tf.stop_gradient(_where_chains(bad, 0.0, proposed_results.target_log_prob))
    grads = tf.stop_gradient(_where_chains(bad, 0.0, proposed_results.grads_target_log_prob))
    shift = proposed_state - tf.stop_gradient(proposed_state)
    return target_log_prob + tf.reduce_sum(grads * shift, axis=-1), grads


@GRADIENT_MODES.register("full")
def _full(target_log_prob_fn, proposed_state, proposed_results, fallback_state, bad):
    """log pi(z') and grad log pi(z') re-evaluated, differentiable (second order)."""
    del proposed_results
    safe_state = tf.where(bad[..., tf.newaxis], tf.stop_gradient(fallback_state), proposed_state)
    with tf.GradientTape() as tape:
        tape.watch(safe_state)
        target_log_prob = target_log_prob_fn(safe_state)
    grads = tape.gradient(target_log_prob, safe_state)
    return _where_chains(bad, 0.0, target_log_prob), _where_chains(bad, 0.0, grads)


def _where_chains(bad, fallback, values):
    """`values` with the rows of the chains flagged in `bad` (`[B]`) set to `fallback`."""
    mask = bad
    for _ in range(values.shape.rank - bad.shape.rank):
        mask = mask[..., tf.newaxis]
    return tf.where(mask, tf.cast(fallback, values.dtype) + tf.zeros_like(values), values)


def _all_finite(values):
    return tf.reduce_all(tf.math.is_finite(values), axis=-1)


def _fallback_state(state, bad):
    """The state of the first chain not in `bad`, for every chain: a point where the target
    and its gradient are finite, where excluded chains are evaluated harmlessly."""
    index = tf.argmax(tf.cast(~bad, tf.int32), axis=-1)
    return tf.broadcast_to(tf.gather(state, index, axis=-2)[..., tf.newaxis, :], tf.shape(state))


def _bad_chains(current_state, current_results, proposed_results, interior):
    """Chains whose transition cannot enter the objective: anything recorded not finite."""
    bad = (
        proposed_results.is_nonfinite
        | ~_all_finite(current_state)
        | ~tf.math.is_finite(current_results.target_log_prob)
        | ~_all_finite(current_results.grads_target_log_prob)
        | ~_all_finite(proposed_results.momentum)
    )
    if interior:
        for field in ("weighted_grads_sum", "grads_sum", "midpoint_state"):
            bad = bad | ~_all_finite(getattr(proposed_results, field))
    return bad


def proposal_entropy(
    target_log_prob_fn,
    proposed_results,
    step_size,
    scale_tril,
    num_dims,
    num_leapfrog_steps=1,
    entropy_estimator="auto",
    estimator_options=None,
    seed=None,
    return_is_nonfinite=False,
):
    """Returns `(entropy, penalty)`, both `[B]`, of the preconditioned proposal.

    MALA (L = 1): H = d/2 log(2 pi e) + log|det(hC)|, exact. HMC (L > 1): the local-Gaussian
    approximation H ~= d/2 log(2 pi e) + d log(L h) + log|det C| + log|det(I - B)| with
    B = xi_L C^T Hess U(q_m) C, xi_L = h^2 (L^2 - 1)/6, q_m the recorded trajectory midpoint
    (held constant) and the log-det from `entropy_estimator` (see `LOG_DET_ESTIMATORS`).

    Args:
      target_log_prob_fn: the log target.
      proposed_results: the proposal's kernel results (`midpoint_state` used when L > 1).
      step_size: scalar h (differentiable).
      scale_tril: C (differentiable), `None`, `[d]` or `[d, d]`.
      num_dims: static d.
      num_leapfrog_steps: static L.
      entropy_estimator: `exact`, `stochastic` or `auto`.
      estimator_options: dict of keyword arguments for the estimator.
      seed: int32[2] for a stochastic estimator.
      return_is_nonfinite: also return the estimator's per-chain non-finite flag.

    Returns:
      `(entropy, penalty)`, or `(entropy, penalty, is_nonfinite)`.

    #### References

    [1]: Marcel Hirt, Michalis K. Titsias and Petros Dellaportas. Entropy-based adaptive
         Hamiltonian Monte Carlo. NeurIPS 2021.
    """
    dtype = proposed_results.target_log_prob.dtype
    batch_zeros = tf.zeros_like(proposed_results.target_log_prob)
    entropy = (
        0.5 * num_dims * math.log(2.0 * math.pi * math.e)
        + num_dims * tf.math.log(float(num_leapfrog_steps) * step_size)
        + _scale.log_det(scale_tril, dtype)
        + batch_zeros
    )
    no_chain = tf.zeros_like(batch_zeros, dtype=tf.bool)
    if num_leapfrog_steps == 1:
        return (entropy, batch_zeros, no_chain) if return_is_nonfinite else (entropy, batch_zeros)
    scale_factor = tf.square(step_size) * ((num_leapfrog_steps**2 - 1) / 6.0)
    estimator = LOG_DET_ESTIMATORS.get(entropy_estimator, field="entropy_estimator")
    result = estimator(
        target_log_prob_fn,
        proposed_results.midpoint_state,
        scale_factor,
        scale_tril,
        seed,
        **(estimator_options or {}),
    )
    nonfinite = no_chain if result.is_nonfinite is None else result.is_nonfinite
    entropy = entropy + result.log_det
    if return_is_nonfinite:
        return entropy, result.penalty, nonfinite
    return entropy, result.penalty


def speed_measure_objective(
    target_log_prob_fn,
    current_state,
    current_results,
    proposed_results,
    step_size,
    scale_tril,
    entropy_weight,
    num_leapfrog_steps=1,
    gradient_mode="stop_target_grads",
    entropy_estimator="auto",
    estimator_options=None,
    seed=None,
):
    """Returns the per-chain speed measure F = log alpha(z, z') + beta H of one transition.

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]`.
      current_state: `[B, d]` state z the proposal was made from (held constant).
      current_results: inner kernel results at z (`target_log_prob`, `grads_target_log_prob`).
      proposed_results: inner kernel results of the proposal (`momentum`, gradient sums,
        `midpoint_state`, target and gradient at z', `is_nonfinite`).
      step_size: scalar h, differentiable.
      scale_tril: C, differentiable (`None`, `[d]` or `[d, d]`).
      entropy_weight: beta (constant).
      num_leapfrog_steps: static L (1 for MALA).
      gradient_mode: `stop_target_grads` or `full` (see `GRADIENT_MODES`).
      entropy_estimator: name in `LOG_DET_ESTIMATORS` (used when L > 1).
      estimator_options: dict of estimator keyword arguments.
      seed: int32[2] for the entropy estimator.

    Returns:
      `SpeedMeasureResults`.

    Raises:
      ConfigError: for an unknown `gradient_mode` or `entropy_estimator`.

    #### References

    [1]: Marcel Hirt, Michalis K. Titsias and Petros Dellaportas. Entropy-based adaptive
         Hamiltonian Monte Carlo. NeurIPS 2021.
    [2]: Michalis K. Titsias and Petros Dellaportas. Gradient-based adaptive Markov chain
         Monte Carlo. NeurIPS 2019.
    """
    proposal_fn = GRADIENT_MODES.get(gradient_mode, field="gradient_mode")
    state = tf.stop_gradient(tf.convert_to_tensor(current_state))
    dtype = state.dtype
    step_size = tf.convert_to_tensor(step_size, dtype=dtype)
    if scale_tril is not None:
        scale_tril = tf.convert_to_tensor(scale_tril, dtype=dtype)
    entropy_weight = tf.stop_gradient(tf.cast(entropy_weight, dtype))
    interior = num_leapfrog_steps > 1
    bad = _bad_chains(state, current_results, proposed_results, interior)
    # Every input of a bad chain is replaced by a finite placeholder before anything is
    # differentiated (the "double where"): its terms are then zeroed, and the zero
    # upstream gradient meets finite partials, so the other chains' gradient is exact.
    state = _where_chains(~_all_finite(state), 0.0, state)
    fallback = _fallback_state(state, bad)
    current_results = current_results._replace(
        target_log_prob=_where_chains(bad, 0.0, current_results.target_log_prob)
    )
    grads = tf.stop_gradient(_where_chains(bad, 0.0, current_results.grads_target_log_prob))
    momentum = tf.stop_gradient(_where_chains(bad, 0.0, proposed_results.momentum))
    weighted_sum = grads_sum = None
    if interior:
        weighted_sum, grads_sum = (
            tf.stop_gradient(_where_chains(bad, 0.0, getattr(proposed_results, field)))
            for field in ("weighted_grads_sum", "grads_sum")
        )
        midpoint = tf.where(bad[..., tf.newaxis], fallback, proposed_results.midpoint_state)
        proposed_results = proposed_results._replace(midpoint_state=midpoint)
    proposed_state = _proposal.endpoint(
        state, grads, momentum, step_size, scale_tril, num_leapfrog_steps, weighted_sum
    )
    proposed_log_prob, proposed_grads = proposal_fn(
        target_log_prob_fn, proposed_state, proposed_results, fallback, bad
    )
    correction = _proposal.log_acceptance_correction(
        momentum, step_size, scale_tril, grads, proposed_grads, grads_sum
    )
    log_ratio = proposed_log_prob - tf.stop_gradient(current_results.target_log_prob) + correction
    entropy, penalty, estimator_bad = proposal_entropy(
        target_log_prob_fn,
        proposed_results,
        step_size,
        scale_tril,
        state.shape[-1],
        num_leapfrog_steps,
        entropy_estimator,
        estimator_options,
        seed,
        return_is_nonfinite=True,
    )
    bad = bad | estimator_bad | ~tf.math.is_finite(log_ratio)
    log_accept_prob = tf.where(bad, tf.zeros_like(log_ratio), tf.minimum(log_ratio, 0.0))
    objective = tf.where(
        bad, tf.zeros_like(log_ratio), log_accept_prob + entropy_weight * (entropy - penalty)
    )
    return SpeedMeasureResults(objective, log_accept_prob, entropy, penalty, bad)


def mean_over_chains(results):
    """Returns the mean of `results.objective` over the chains that are not excluded.

    Equal to `tf.reduce_mean(objective)` when no chain is excluded (multiplied by exactly
    1), and to the mean over the remaining chains otherwise (0 when none remain).

    Args:
      results: `SpeedMeasureResults`.

    Returns:
      Scalar tensor.
    """
    objective = results.objective
    num_chains = tf.cast(tf.size(objective), objective.dtype)
    num_good = num_chains - tf.reduce_sum(tf.cast(results.is_nonfinite, objective.dtype))
    return tf.reduce_mean(objective) * (num_chains / tf.maximum(num_good, 1.0))


SpeedMeasureGradients = collections.namedtuple(
    "SpeedMeasureGradients",
    ["objective", "entropy", "grads", "is_finite", "num_excluded_chains", "terms"],
)
SpeedMeasureGradients.__doc__ = """Output of `speed_measure_gradients`.

Fields:
  objective: scalar, the speed measure's mean over the chains not excluded.
  entropy: scalar, the mean proposal entropy (nats).
  grads: list aligned with `variables`: d objective / d variable (zeros if not finite).
  is_finite: bool scalar, the gradient was finite (else it was replaced by zeros).
  num_excluded_chains: int32 scalar, chains left out of the objective.
  terms: the per-chain `SpeedMeasureResults`.
"""


def speed_measure_gradients(
    target_log_prob_fn,
    current_state,
    previous_results,
    kernel_results,
    variables,
    kernel_params_fn,
    seed=None,
    kernel=None,
    **options,
):
    """Returns the gradient of one transition's mean speed measure w.r.t. `variables`.

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]`.
      current_state: `[B, d]` state the transition started from.
      previous_results: `MetropolisHastingsKernelResults` at `current_state`.
      kernel_results: `MetropolisHastingsKernelResults` of the transition from it.
      variables: list of tensors to differentiate with respect to.
      kernel_params_fn: maps `variables` to `(step_size, scale_tril)` (differentiably).
      seed: int32[2] for the entropy estimator.
      kernel: the calibrated kernel that made the transition; its trajectory length
        (`num_leapfrog_steps`, 1 for MALA) is the entropy's L unless `options` give it.
      **options: `speed_measure_objective` keyword arguments (`entropy_weight`,
        `num_leapfrog_steps`, `gradient_mode`, `entropy_estimator`, `estimator_options`).

    Returns:
      `SpeedMeasureGradients`.
    """
    if kernel is not None:
        options.setdefault("num_leapfrog_steps", kernel.num_leapfrog_steps)
    with tf.GradientTape() as tape:
        tape.watch(variables)
        step_size, scale_tril = kernel_params_fn(variables)
        terms = speed_measure_objective(
            target_log_prob_fn,
            current_state,
            previous_results.accepted_results,
            kernel_results.proposed_results,
            step_size,
            scale_tril,
            seed=seed,
            **options,
        )
        objective = mean_over_chains(terms)
    grads = tape.gradient(objective, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
    grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
    excluded = tf.reduce_sum(tf.cast(terms.is_nonfinite, tf.int32))
    return SpeedMeasureGradients(
        objective, tf.reduce_mean(terms.entropy), grads, finite, excluded, terms
    )


def update_entropy_weight(entropy_weight, mean_accept_prob, target_accept_prob, rate):
    """The entropy-weight rule beta <- clip(beta (1 + rate (accept - a*)), 1e-3, 1e2).

    Args:
      entropy_weight: current beta (tensor).
      mean_accept_prob: mean acceptance over the chains and transitions of the step.
      target_accept_prob: a* (0.55 for MALA, 0.65 for HMC by default).
      rate: rho_beta.

    Returns:
      The new beta, same dtype as `entropy_weight`.
    """
    entropy_weight = tf.convert_to_tensor(entropy_weight)
    mean_accept_prob = tf.cast(mean_accept_prob, entropy_weight.dtype)
    new_weight = entropy_weight * (1.0 + rate * (mean_accept_prob - target_accept_prob))
    return tf.clip_by_value(new_weight, 1e-3, 1e2)
