"""Short chains of K transitions: plain, and with the speed-measure gradient accumulated.

Both loops are `tf.while_loop`s of static length, XLA-safe (`tf.function(jit_compile=True)`),
and take one stateless seed split into one seed per transition.
"""

import collections

import tensorflow as tf

from tf_smvae.mcmc.kernels import make_kernel
from tf_smvae.mcmc.speed_measure import speed_measure_gradients
from tf_smvae.util.seeds import split_seed

__all__ = [
    "AdaptiveChainResults",
    "ChainResults",
    "run_adaptive_chain",
    "run_chain",
    "run_speed_measure_chain",
]

ChainResults = collections.namedtuple(
    "ChainResults", ["final_state", "accept_prob", "acceptance_rate", "num_nonfinite"]
)
ChainResults.__doc__ = """Output of `run_chain`.

Fields:
  final_state: `[B, d]` state after the K transitions.
  accept_prob: scalar, mean of min(1, exp(log_accept_ratio)) over chains and transitions.
  acceptance_rate: scalar, fraction of accepted proposals.
  num_nonfinite: int32 scalar, proposals rejected for a non-finite energy or gradient.
"""

AdaptiveChainResults = collections.namedtuple(
    "AdaptiveChainResults",
    [
        "final_state",
        "accept_prob",
        "acceptance_rate",
        "num_nonfinite",
        "entropy",
        "objective",
        "grads",
        "num_nonfinite_grads",
        "num_excluded_chains",
    ],
)
AdaptiveChainResults.__doc__ = """Output of `run_speed_measure_chain` / `run_adaptive_chain`.

The fields of `ChainResults`, and the following.

Fields:
  entropy: scalar, mean proposal entropy (nats) over chains and transitions.
  objective: scalar, sum over transitions of the chain-mean speed measure F_k.
  grads: gradients of `objective` (w.r.t. `[step_size, scale_tril]` for
    `run_speed_measure_chain`, w.r.t. the layer's `trainable_variables` for
    `run_adaptive_chain`). A chain with a non-finite proposal, gradient, midpoint or
    Hessian is left out of its transition's mean (the others' gradient is unchanged); a
    transition whose gradient is still not finite contributes zero.
  num_nonfinite_grads: int32 scalar, transitions whose whole gradient was dropped.
  num_excluded_chains: int32 scalar, chain-transitions left out of the objective.
"""


def _transition_stats(kernel_results):
    accept_prob = tf.reduce_mean(tf.exp(tf.minimum(kernel_results.log_accept_ratio, 0.0)))
    acceptance_rate = tf.reduce_mean(tf.cast(kernel_results.is_accepted, accept_prob.dtype))
    nonfinite = tf.reduce_sum(tf.cast(kernel_results.proposed_results.is_nonfinite, tf.int32))
    return accept_prob, acceptance_rate, nonfinite


def run_chain(
    target_log_prob_fn,
    initial_state,
    step_size,
    scale_tril=None,
    *,
    num_steps,
    kernel="mala",
    seed,
    **kernel_options,
):
    """Runs K transitions of a fixed kernel (no adaptation).

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]`.
      initial_state: `[B, d]`, one chain per row.
      step_size: scalar h.
      scale_tril: C (`None`, `[d]` or `[d, d]`).
      num_steps: static K >= 1.
      kernel: `mala` or `hmc`.
      seed: int32[2].
      **kernel_options: the kernel's own static options (`make_kernel`; HMC's L).

    Returns:
      `ChainResults`.
    """
    kernel_obj = make_kernel(kernel, target_log_prob_fn, step_size, scale_tril, **kernel_options)
    initial_state = tf.convert_to_tensor(initial_state)
    seeds = tf.stack(split_seed(seed, num_steps, salt="run_chain"))
    zero = tf.zeros([], initial_state.dtype)

    def body(k, state, results, accept_prob, acceptance_rate, nonfinite):
        state, results = kernel_obj.one_step(state, results, seed=seeds[k])
        stats = _transition_stats(results)
        return (
            k + 1,
            state,
            results,
            accept_prob + stats[0],
            acceptance_rate + stats[1],
            (nonfinite + stats[2]),
        )

    loop_vars = (0, initial_state, kernel_obj.bootstrap_results(initial_state), zero, zero, 0)
    _, state, _, accept_prob, acceptance_rate, nonfinite = tf.while_loop(
        lambda k, *_: k < num_steps, body, loop_vars, maximum_iterations=num_steps
    )
    return ChainResults(state, accept_prob / num_steps, acceptance_rate / num_steps, nonfinite)


def _objective_grads(target_log_prob_fn, state, previous, kernel_results, params, options, seed):
    """`speed_measure_gradients` w.r.t. the tensors `[step_size]` or `[step_size, scale_tril]`."""
    result = speed_measure_gradients(
        target_log_prob_fn,
        state,
        previous,
        kernel_results,
        params,
        lambda tensors: (tensors[0], tensors[1] if len(tensors) > 1 else None),
        seed=seed,
        **options,
    )
    return (
        result.objective,
        result.entropy,
        result.grads,
        result.is_finite,
        result.num_excluded_chains,
    )


def _accumulate(target_log_prob_fn, kernel_obj, initial_state, params, options, num_steps, seed):
    """The transition loop of `run_speed_measure_chain`."""
    seeds = tf.stack(split_seed(seed, num_steps, salt="run_speed_measure_chain"))
    zero = tf.zeros([], initial_state.dtype)

    def body(k, state, results, sums, grads, nonfinite, dropped, excluded):
        kernel_seed, entropy_seed = split_seed(seeds[k], 2, salt="transition")
        previous = results
        next_state, results = kernel_obj.one_step(state, previous, seed=kernel_seed)
        objective, entropy, step_grads, finite, num_excluded = _objective_grads(
            target_log_prob_fn, state, previous, results, params, options, entropy_seed
        )
        accept_prob, acceptance_rate, num_bad = _transition_stats(results)
        sums = [s + t for s, t in zip(sums, (accept_prob, acceptance_rate, entropy, objective))]
        grads = [g + s for g, s in zip(grads, step_grads)]
        return (
            k + 1,
            next_state,
            results,
            sums,
            grads,
            nonfinite + num_bad,
            dropped + tf.cast(~finite, tf.int32),
            excluded + num_excluded,
        )

    loop_vars = (
        0,
        initial_state,
        kernel_obj.bootstrap_results(initial_state),
        [zero] * 4,
        [tf.zeros_like(p) for p in params],
        0,
        0,
        0,
    )
    _, state, _, sums, grads, nonfinite, dropped, excluded = tf.while_loop(
        lambda k, *_: k < num_steps, body, loop_vars, maximum_iterations=num_steps
    )
    accept_prob, acceptance_rate, entropy, objective = sums
    return AdaptiveChainResults(
        state,
        accept_prob / num_steps,
        acceptance_rate / num_steps,
        nonfinite,
        entropy / num_steps,
        objective,
        grads,
        dropped,
        excluded,
    )


def run_speed_measure_chain(
    target_log_prob_fn,
    initial_state,
    step_size,
    scale_tril=None,
    *,
    num_steps,
    kernel="mala",
    entropy_weight=1.0,
    gradient_mode="stop_target_grads",
    entropy_estimator="auto",
    estimator_options=None,
    seed,
    **kernel_options,
):
    """Runs K transitions and accumulates grad sum_k F_k w.r.t. the kernel tensors (h, C).

    Each transition k draws z'_k from z_{k-1} with the kernel at (sg(h), sg(C)), accepts or
    rejects it (Metropolis-Hastings), and adds the gradient of the chain-mean speed measure
    F_k = log alpha(z_{k-1}, z'_k) + beta H(z_{k-1}) w.r.t. (h, C), with z_{k-1} held
    constant and z'_k reparameterised through the recorded noise (see
    `speed_measure_objective`). Chains with a non-finite proposal, gradient, midpoint or
    Hessian are left out of their transition's objective; a transition whose gradient is
    still not finite is dropped.

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]`.
      initial_state: `[B, d]`, one chain per row (held constant: no gradient flows to it).
      step_size: scalar tensor h.
      scale_tril: tensor C (`None`, `[d]` or `[d, d]`).
      num_steps: static K >= 1.
      kernel: `mala` or `hmc`.
      entropy_weight: beta (scalar, held constant).
      gradient_mode: `stop_target_grads` (default) or `full`.
      entropy_estimator: `exact`, `stochastic` or `auto` (HMC with L > 1 only).
      estimator_options: dict of keyword arguments for the estimator.
      seed: int32[2]; transition k uses independent kernel and estimator seeds.
      **kernel_options: the kernel's own static options (`make_kernel`; HMC's L, which
        the entropy then reads back from the kernel).

    Returns:
      `AdaptiveChainResults` with `grads` = `[d step_size]` or `[d step_size, d scale_tril]`.
    """
    kernel_obj = make_kernel(
        kernel,
        target_log_prob_fn,
        tf.stop_gradient(step_size),
        None if scale_tril is None else tf.stop_gradient(scale_tril),
        **kernel_options,
    )
    params = [step_size] if scale_tril is None else [step_size, scale_tril]
    options = dict(
        kernel=kernel_obj,
        entropy_weight=entropy_weight,
        gradient_mode=gradient_mode,
        entropy_estimator=entropy_estimator,
        estimator_options=estimator_options,
    )
    initial_state = tf.stop_gradient(tf.convert_to_tensor(initial_state))
    return _accumulate(
        target_log_prob_fn, kernel_obj, initial_state, params, options, num_steps, seed
    )


def run_adaptive_chain(target_log_prob_fn, initial_state, kernel_parameters, **kwargs):
    """`run_speed_measure_chain` with (h, C) from a `KernelParameters` layer.

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]`.
      initial_state: `[B, d]`.
      kernel_parameters: a `KernelParameters` layer (or any object with `step_size`,
        `scale_tril` and `trainable_variables`).
      **kwargs: keyword arguments of `run_speed_measure_chain` (`num_steps`, `kernel`,
        `entropy_weight`, `gradient_mode`, `entropy_estimator`, `estimator_options`,
        `seed`, and the kernel's options).

    Returns:
      `AdaptiveChainResults` whose `grads` align with
      `kernel_parameters.trainable_variables`: apply them (negated, to maximise) with one
      optimizer step.
    """
    variables = kernel_parameters.trainable_variables
    with tf.GradientTape() as tape:
        step_size = kernel_parameters.step_size
        scale_tril = kernel_parameters.scale_tril
    results = run_speed_measure_chain(
        target_log_prob_fn, initial_state, step_size, scale_tril, **kwargs
    )
    tensors = [step_size] if scale_tril is None else [step_size, scale_tril]
    grads = tape.gradient(
        tensors,
        variables,
        output_gradients=results.grads,
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )
    return results._replace(grads=grads)
