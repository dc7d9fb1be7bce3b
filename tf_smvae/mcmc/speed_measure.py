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
    "SpeedMeasureResults",
    "proposal_entropy",
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
    (differentiable; 0 for non-finite proposals, which carry no gradient). The penalty is a
    constraint on the entropy term, so it is weighted like it.
  log_accept_prob: `[B]`, min(0, -Delta) (0 where not finite).
  entropy: `[B]`, the proposal entropy H in nats (including the constant d/2 log(2 pi e)).
  penalty: `[B]`, the log-det estimator's spectral penalty (0 for MALA and `exact`).
  is_nonfinite: `[B]` bool, the proposal was not finite (rejected, no gradient).
"""


@GRADIENT_MODES.register("stop_target_grads")
def _stop_target_grads(target_log_prob_fn, proposed_state, proposed_results, fallback_state):
    """log pi(z') to first order around the recorded z'; grad log pi(z') a constant."""
    del target_log_prob_fn, fallback_state
    bad = proposed_results.is_nonfinite
    target_log_prob = tf.where(
        bad, tf.zeros_like(bad, proposed_state.dtype), proposed_results.target_log_prob
    )
    grads = tf.where(bad[..., tf.newaxis], 0.0, proposed_results.grads_target_log_prob)
    target_log_prob, grads = tf.stop_gradient(target_log_prob), tf.stop_gradient(grads)
    shift = proposed_state - tf.stop_gradient(proposed_state)
    return target_log_prob + tf.reduce_sum(grads * shift, axis=-1), grads


@GRADIENT_MODES.register("full")
def _full(target_log_prob_fn, proposed_state, proposed_results, fallback_state):
    """log pi(z') and grad log pi(z') re-evaluated, differentiable (second order)."""
    bad = proposed_results.is_nonfinite
    safe_state = tf.where(bad[..., tf.newaxis], tf.stop_gradient(fallback_state), proposed_state)
    with tf.GradientTape() as tape:
        tape.watch(safe_state)
        target_log_prob = target_log_prob_fn(safe_state)
    grads = tape.gradient(target_log_prob, safe_state)
    target_log_prob = tf.where(bad, tf.zeros_like(target_log_prob), target_log_prob)
    return target_log_prob, tf.where(bad[..., tf.newaxis], tf.zeros_like(grads), grads)


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

    Returns:
      `(entropy, penalty)`.

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
    if num_leapfrog_steps == 1:
        return entropy, batch_zeros
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
    return entropy + result.log_det, result.penalty


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
    step_size = tf.convert_to_tensor(step_size, dtype=state.dtype)
    if scale_tril is not None:
        scale_tril = tf.convert_to_tensor(scale_tril, dtype=state.dtype)
    entropy_weight = tf.stop_gradient(tf.cast(entropy_weight, state.dtype))
    grads = tf.stop_gradient(current_results.grads_target_log_prob)
    momentum = tf.stop_gradient(proposed_results.momentum)
    interior = num_leapfrog_steps > 1
    weighted_sum = tf.stop_gradient(proposed_results.weighted_grads_sum) if interior else None
    grads_sum = tf.stop_gradient(proposed_results.grads_sum) if interior else None
    proposed_state = _proposal.endpoint(
        state, grads, momentum, step_size, scale_tril, num_leapfrog_steps, weighted_sum
    )
    proposed_log_prob, proposed_grads = proposal_fn(
        target_log_prob_fn, proposed_state, proposed_results, state
    )
    correction = _proposal.log_acceptance_correction(
        momentum, step_size, scale_tril, grads, proposed_grads, grads_sum
    )
    log_ratio = proposed_log_prob - tf.stop_gradient(current_results.target_log_prob) + correction
    bad = proposed_results.is_nonfinite | ~tf.math.is_finite(log_ratio)
    log_accept_prob = tf.where(bad, tf.zeros_like(log_ratio), tf.minimum(log_ratio, 0.0))
    entropy, penalty = proposal_entropy(
        target_log_prob_fn,
        proposed_results,
        step_size,
        scale_tril,
        state.shape[-1],
        num_leapfrog_steps,
        entropy_estimator,
        estimator_options,
        seed,
    )
    objective = log_accept_prob + entropy_weight * (entropy - penalty)
    return SpeedMeasureResults(objective, log_accept_prob, entropy, penalty, bad)


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
