"""`adapt_kernel`: speed-measure warm-up of a preconditioned kernel for any TFP target."""

import collections
import warnings

import tensorflow as tf

from tf_smvae.mcmc.adaptation import STUCK_AFTER_REJECTIONS
from tf_smvae.mcmc.adaptation import SpeedMeasureAdaptation
from tf_smvae.mcmc.dual_averaging import DualAveragingValues
from tf_smvae.mcmc.dual_averaging import dual_averaging_update
from tf_smvae.mcmc.kernel_parameters import KernelParameters
from tf_smvae.mcmc.kernels import make_kernel
from tf_smvae.mcmc.trajectory_length import choose_num_leapfrog_steps
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.seeds import as_seed
from tf_smvae.util.seeds import split_seed

__all__ = [
    "AdaptKernelResults",
    "AdaptationTrace",
    "adapt_kernel",
]

# Warn when the kernel gradient was dropped on at least this many consecutive steps.
DROPPED_GRADIENT_RUN_WARNING = 20
# HMC with num_leapfrog_steps="auto": the L of the warm-up (h and C are learned at a short
# L, where the speed measure's local-Gaussian entropy holds), before L is chosen.
AUTO_WARMUP_LEAPFROG_STEPS = 3

_TRACE_FIELDS = (
    "accept_prob",
    "entropy_weight",
    "entropy",
    "step_size",
    "num_dropped_grads",
    "num_excluded_chains",
    "num_nonfinite",
    "num_divergences",
    "num_backoffs",
    "num_restarts",
)

AdaptationTrace = collections.namedtuple("AdaptationTrace", _TRACE_FIELDS)
AdaptationTrace.__doc__ = """Per-step trace of `adapt_kernel` (numpy arrays, one entry a step).

Fields:
  accept_prob: mean acceptance probability of the step's transition.
  entropy_weight: beta after the step.
  entropy: mean proposal entropy (nats; 0 in the final window, which learns no C).
  step_size: h for the next step (the last entry is the sampling h).
  num_dropped_grads: 1 where the kernel gradient was dropped whole (non-finite, or every
    chain excluded).
  num_excluded_chains: chains left out of the speed measure (non-finite terms).
  num_nonfinite: chains whose proposal was not finite (rejected).
  num_divergences: chains whose energy error exceeded 1000 (or was not finite).
  num_backoffs: 1 where h was halved because nearly every chain rejected.
  num_restarts: stuck chains restarted from a moving chain's state (`SpeedMeasureAdaptation`).
"""

AdaptKernelResults = collections.namedtuple(
    "AdaptKernelResults",
    [
        "kernel",
        "step_size",
        "scale_diag",
        "scale_tril",
        "final_state",
        "kernel_parameters",
        "trace",
        "trajectory_length",
    ],
)
AdaptKernelResults.__doc__ = """Output of `adapt_kernel`.

Fields:
  kernel: the calibrated `PreconditionedMALA`/`PreconditionedHMC` with the learned h, C
    (and L): pass it to `tfp.mcmc.sample_chain`.
  step_size: learned h (scalar tensor).
  scale_diag: `[d]` diagonal of C for `preconditioner="diag"`, else `None`.
  scale_tril: `[d, d]` lower-triangular C for `preconditioner="tril"`, else `None`.
  final_state: `[B, d]` chain states at the end of the warm-up (start sampling there).
  kernel_parameters: a `KernelParameters` layer holding (h, C) (`dense_scale_tril()`).
  trace: `AdaptationTrace`.
  trajectory_length: with `num_leapfrog_steps="auto"`, the `TrajectoryLengthResults` of
    the choice of L (the jump per gradient and acceptance of every candidate); else None.
"""


def _run_warmup(kernel, initial_state, num_adaptation_steps, seed, jit_compile):
    """Runs the warm-up as one `tf.while_loop`; returns `(state, results, trace tensors)`."""

    @tf.function(jit_compile=jit_compile)
    def run(state, seed):
        seeds = tf.stack(split_seed(seed, num_adaptation_steps, salt="adapt_kernel"))
        arrays = [
            tf.TensorArray(dtype, size=num_adaptation_steps)
            for dtype in [state.dtype] * 4 + [tf.int32] * 6
        ]

        def body(i, state, results, arrays):
            state, results = kernel.one_step(state, results, seed=seeds[i])
            values = [getattr(results, name) for name in _TRACE_FIELDS]
            arrays = [a.write(i, tf.cast(v, a.dtype)) for a, v in zip(arrays, values)]
            return i + 1, state, results, arrays

        _, state, results, arrays = tf.while_loop(
            lambda i, *_: i < num_adaptation_steps,
            body,
            (0, state, kernel.bootstrap_results(state), arrays),
            maximum_iterations=num_adaptation_steps,
        )
        return state, results, [a.stack() for a in arrays]

    return run(initial_state, seed)


def _longest_run(flags):
    longest = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        longest = max(longest, current)
    return longest


def _warn_on_dropped_gradients(trace):
    longest = _longest_run(trace.num_dropped_grads > 0)
    if longest >= DROPPED_GRADIENT_RUN_WARNING:
        warnings.warn(
            f"adapt_kernel: the kernel gradient was dropped on {longest} consecutive steps "
            f"({int(trace.num_dropped_grads.sum())} of {len(trace.num_dropped_grads)} in all): "
            "every chain's proposal or entropy term was non-finite. Start the chains inside "
            "the support, or check the target for NaNs.",
            RuntimeWarning,
            stacklevel=3,
        )


def _with_step_size(results, step_size):
    """MH results whose kernel will use `step_size` (our kernels read h from them)."""
    accepted = results.accepted_results._replace(step_size=step_size)
    return results._replace(accepted_results=accepted)


def _retune_step_size(kernel, state, num_steps, target_accept_prob, seed, jit_compile):
    """h re-tuned by dual averaging for `kernel` (its L may differ from the warm-up's),
    restarted at the kernel's h (mu = log h, gamma 0.5, as `SpeedMeasureAdaptation`'s
    final window); returns `(h-bar, state)`."""
    log_step_size = tf.math.log(tf.convert_to_tensor(kernel.step_size, state.dtype))

    @tf.function(jit_compile=jit_compile)
    def run(state, seed):
        seeds = tf.stack(split_seed(seed, num_steps, salt="retune_step_size"))
        zero = tf.zeros([], state.dtype)
        values = DualAveragingValues(log_step_size, log_step_size, zero, zero)

        def body(i, state, results, values):
            results = _with_step_size(results, tf.exp(values.log_step_size))
            state, results = kernel.one_step(state, results, seed=seeds[i])
            accept_prob = tf.reduce_mean(tf.exp(tf.minimum(results.log_accept_ratio, 0.0)))
            values = dual_averaging_update(
                values, accept_prob, target_accept_prob, log_step_size, gamma=0.5
            )
            return i + 1, state, results, values

        _, state, _, values = tf.while_loop(
            lambda i, *_: i < num_steps,
            body,
            (0, state, kernel.bootstrap_results(state), values),
            maximum_iterations=num_steps,
        )
        return tf.exp(values.log_averaged_step_size), state

    return run(state, seed)


def _kernel_parameters(kernel, step_size, results, num_dims, preconditioner, dtype):
    """A `KernelParameters` layer holding the learned (h, C)."""
    params = KernelParameters(
        num_dims, preconditioner, step_size_bijector="exp", dtype=tf.as_dtype(dtype).name
    )
    params.unconstrained_step_size.assign(tf.math.log(step_size))
    scale = kernel.scale_tril(results)
    if params.unconstrained_scale is not None:
        dense = scale if scale.shape.rank == 2 else tf.linalg.diag(scale)
        params.unconstrained_scale.assign(params._preconditioner.from_dense(dense))
    return params


def adapt_kernel(
    target_log_prob_fn,
    initial_state,
    *,
    kernel="mala",
    preconditioner="tril",
    num_adaptation_steps=None,
    num_steps=None,
    num_leapfrog_steps=1,
    learning_rate=0.01,
    init_step_size=0.1,
    entropy_weight=1.0,
    entropy_weight_rate=0.02,
    target_accept_prob=None,
    step_size_adaptation=None,
    num_final_steps=None,
    search_step_size=True,
    estimate_covariance=True,
    restart_stuck_after=STUCK_AFTER_REJECTIONS,
    gradient_mode="stop_target_grads",
    entropy_estimator="auto",
    estimator_options=None,
    jit_compile=True,
    seed,
):
    """Learns a step size and preconditioner for `target_log_prob_fn` by the speed measure.

    Runs `SpeedMeasureAdaptation` (see it for the phases: an initial step-size search, the
    main phase where the speed measure learns C, and h by the paper's rule or by dual
    averaging, then a final window that tunes h alone) for `num_adaptation_steps`
    transitions of every chain, as one compiled `tf.while_loop`, and returns a calibrated
    kernel with the learned (h, C) and L. Each warm-up step costs one transition (L
    gradient evaluations per chain; MALA L = 1) plus, for HMC with L >= 2, the entropy
    estimator's Hessian-vector products (d per chain with `exact`); the chain state is
    carried between steps (no re-bootstrap). How many steps suffice: see
    `SpeedMeasureAdaptation` (1000 with 64-256 chains on the targets of
    `bench/adaptation.py`).

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]` (any TFP `log_prob`; float32 or
        float64, the dtype of `initial_state`).
      initial_state: `[B, d]` starting states, one chain per row (more chains give
        less noisy gradients).
      kernel: `mala` or `hmc`.
      preconditioner: `identity`, `diag` or `tril`.
      num_adaptation_steps: warm-up transitions (Python int; default 1000).
      num_steps: deprecated name of `num_adaptation_steps`.
      num_leapfrog_steps: L for `hmc`, or "auto": warm up at L = 3, then choose L among
        `trajectory_length.DEFAULT_CANDIDATES` (1..32) by the expected whitened squared
        jump per gradient (`choose_num_leapfrog_steps`; 4 transitions a candidate, 252
        gradients a chain), keep C and re-tune h for that L by dual averaging over
        `num_final_steps` more transitions.
      learning_rate: Adam learning rate on the unconstrained (log h, C).
      init_step_size: starting h for the search (C starts at the identity).
      entropy_weight: initial beta.
      entropy_weight_rate: rho_beta of the beta rule.
      target_accept_prob: a*; `None` takes the kernel's default (0.55 MALA, 0.65 HMC).
      step_size_adaptation: `speed_measure` (the paper's rule) or `dual_averaging`;
        `None` takes the kernel's default (`dual_averaging` for both).
      num_final_steps: the final window (default `num_adaptation_steps // 5`).
      search_step_size: run the initial step-size search.
      estimate_covariance: set C at steps N/8, N/4 and N/2 from the precision that the
        chains' states and gradients imply (`SpeedMeasureAdaptation`), then refine it by
        the speed measure: `across_chains` (or `True`) when the chains share one target,
        `within_chains` when each chain targets its own posterior of one shape (a batch
        of per-data-point posteriors); `False` learns C by the speed measure alone (the
        paper's way).
      restart_stuck_after: restart a chain from a moving chain's state after this many
        rejections in a row, in the first half of the warm-up (0: never).
      gradient_mode: `stop_target_grads` or `full`.
      entropy_estimator: `exact`, `stochastic` or `auto` (HMC only).
      estimator_options: dict of the estimator's keyword arguments.
      jit_compile: Python bool, XLA-compile the warm-up loop.
      seed: int or int32[2]; one stream per step.

    Returns:
      `AdaptKernelResults`.

    Raises:
      ConfigError: for an unknown kernel, preconditioner, rule, mode or estimator, or a
        bad `initial_state`.

    #### Examples

    ```python
    target = tfd.MultivariateNormalTriL(loc=mu, scale_tril=chol)
    adapted = tf_smvae.mcmc.adapt_kernel(
        target.log_prob, tf.zeros([256, 20]), kernel="mala", seed=1)
    samples = tfp.mcmc.sample_chain(
        1000, adapted.final_state, kernel=adapted.kernel, trace_fn=None, seed=[1, 2])
    ```

    #### References

    [1]: Marcel Hirt, Michalis K. Titsias and Petros Dellaportas. Entropy-based adaptive
         Hamiltonian Monte Carlo. NeurIPS 2021.
    [2]: Michalis K. Titsias and Petros Dellaportas. Gradient-based adaptive Markov chain
         Monte Carlo. NeurIPS 2019.
    """
    if num_steps is not None:
        warnings.warn(
            "adapt_kernel: `num_steps` is deprecated; use `num_adaptation_steps`.",
            DeprecationWarning,
            stacklevel=2,
        )
        if num_adaptation_steps is None:
            num_adaptation_steps = num_steps
    num_adaptation_steps = 1000 if num_adaptation_steps is None else int(num_adaptation_steps)
    if num_adaptation_steps < 1:
        raise ConfigError(f"num_adaptation_steps must be >= 1, got {num_adaptation_steps}.")
    state = tf.convert_to_tensor(initial_state)
    if state.shape.rank != 2 or not state.dtype.is_floating:
        raise ConfigError(
            f"initial_state must be a float [num_chains, num_dims] array, got {state.dtype.name}"
            f" of shape {state.shape}."
        )
    auto_length = num_leapfrog_steps == "auto"
    if auto_length and kernel != "hmc":
        raise ConfigError(f'num_leapfrog_steps="auto" needs kernel="hmc", got {kernel!r}.')
    inner = make_kernel(
        kernel,
        target_log_prob_fn,
        tf.constant(init_step_size, state.dtype),
        None,
        AUTO_WARMUP_LEAPFROG_STEPS if auto_length else num_leapfrog_steps,
    )
    adaptation = SpeedMeasureAdaptation(
        inner,
        num_adaptation_steps,
        preconditioner=preconditioner,
        step_size_adaptation=step_size_adaptation,
        target_accept_prob=target_accept_prob,
        learning_rate=learning_rate,
        entropy_weight=entropy_weight,
        entropy_weight_rate=entropy_weight_rate,
        num_final_steps=num_final_steps,
        search_step_size=search_step_size,
        estimate_covariance=estimate_covariance,
        restart_stuck_after=restart_stuck_after,
        gradient_mode=gradient_mode,
        entropy_estimator=entropy_estimator,
        estimator_options=estimator_options,
    )
    state, results, arrays = _run_warmup(
        adaptation, state, num_adaptation_steps, as_seed(seed), jit_compile
    )
    trace = AdaptationTrace(*[a.numpy() for a in arrays])
    _warn_on_dropped_gradients(trace)
    scale = adaptation.scale_tril(results)
    rank = None if scale is None else scale.shape.rank
    adapted = adaptation.adapted_kernel(results)
    step_size, length = results.step_size, None
    if auto_length:
        length_seed, retune_seed = split_seed(as_seed(seed), 2, salt="trajectory_length")
        length = choose_num_leapfrog_steps(
            target_log_prob_fn, state, step_size, scale, seed=length_seed
        )
        chosen = make_kernel(
            kernel, target_log_prob_fn, step_size, scale, length.num_leapfrog_steps
        )
        step_size, state = _retune_step_size(
            chosen,
            state,
            num_final_steps or max(num_adaptation_steps // 5, 1),
            adaptation.parameters["target_accept_prob"],
            retune_seed,
            jit_compile,
        )
        adapted = make_kernel(
            kernel, target_log_prob_fn, step_size, scale, length.num_leapfrog_steps
        )
    return AdaptKernelResults(
        kernel=adapted,
        step_size=step_size,
        scale_diag=scale if rank == 1 else None,
        scale_tril=scale if rank == 2 else None,
        final_state=state,
        kernel_parameters=_kernel_parameters(
            adaptation, step_size, results, state.shape[-1], preconditioner, state.dtype
        ),
        trace=trace,
        trajectory_length=length,
    )
