"""`adapt_kernel`: speed-measure warm-up of a preconditioned kernel for any TFP target."""

import collections

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.mcmc.chain import run_adaptive_chain
from tf_smvae.mcmc.kernel_parameters import KernelParameters
from tf_smvae.mcmc.kernels import KERNELS
from tf_smvae.mcmc.speed_measure import update_entropy_weight
from tf_smvae.util.seeds import as_seed

__all__ = [
    "AdaptKernelResults",
    "AdaptationTrace",
    "adapt_kernel",
]

AdaptationTrace = collections.namedtuple(
    "AdaptationTrace", ["accept_prob", "entropy_weight", "entropy", "step_size"]
)
AdaptationTrace.__doc__ = """Per-optimisation-step trace of `adapt_kernel` (numpy arrays).

Fields:
  accept_prob: mean acceptance probability of the step's transitions.
  entropy_weight: beta after the step's update.
  entropy: mean proposal entropy (nats).
  step_size: h after the step's update.
"""

AdaptKernelResults = collections.namedtuple(
    "AdaptKernelResults", ["step_size", "scale_tril", "final_state", "kernel_parameters", "trace"]
)
AdaptKernelResults.__doc__ = """Output of `adapt_kernel`.

Fields:
  step_size: learned h (scalar tensor).
  scale_tril: learned C as a dense `[d, d]` lower-triangular tensor.
  final_state: `[B, d]` chain states at the end of the warm-up.
  kernel_parameters: the `KernelParameters` layer holding (h, C).
  trace: `AdaptationTrace`.
"""


def _make_step_fn(target_log_prob_fn, params, optimizer, entropy_weight, config, jit_compile):
    """Returns the compiled optimisation step: K transitions, one Adam step, the beta rule."""
    variables = params.trainable_variables
    chain_kwargs = {k: config[k] for k in ("num_steps", "kernel", "num_leapfrog_steps")}
    chain_kwargs.update(gradient_mode=config["gradient_mode"])
    chain_kwargs.update(entropy_estimator=config["entropy_estimator"])

    @tf.function(jit_compile=jit_compile)
    def step(state, seed):
        results = run_adaptive_chain(
            target_log_prob_fn,
            state,
            params,
            entropy_weight=tf.convert_to_tensor(entropy_weight),
            seed=seed,
            **chain_kwargs,
        )
        optimizer.apply_gradients(zip([-g for g in results.grads], variables))
        entropy_weight.assign(
            update_entropy_weight(
                entropy_weight,
                results.accept_prob,
                config["target_accept_prob"],
                config["entropy_weight_rate"],
            )
        )
        trace = (results.accept_prob, tf.convert_to_tensor(entropy_weight), results.entropy)
        return results.final_state, trace + (params.step_size,)

    return step


def adapt_kernel(
    target_log_prob_fn,
    initial_state,
    *,
    kernel="mala",
    preconditioner="tril",
    num_steps=1000,
    num_transitions_per_step=1,
    num_leapfrog_steps=1,
    learning_rate=0.01,
    init_step_size=0.1,
    entropy_weight=1.0,
    entropy_weight_rate=0.02,
    target_accept_prob=None,
    gradient_mode="stop_target_grads",
    entropy_estimator="auto",
    jit_compile=True,
    seed,
):
    """Learns a step size and preconditioner for `target_log_prob_fn` by the speed measure.

    Each of `num_steps` optimisation steps runs `num_transitions_per_step` transitions of
    every chain, accumulates grad sum_k F_k (`run_adaptive_chain`), takes one Adam ascent
    step on (h, C) and updates the entropy weight
    beta <- clip(beta (1 + entropy_weight_rate (accept - a*)), 1e-3, 1e2).

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]` (any TFP `log_prob`).
      initial_state: `[B, d]` starting states, one chain per row (more chains give
        less noisy gradients).
      kernel: `mala` or `hmc`.
      preconditioner: `identity`, `diag` or `tril`.
      num_steps: optimisation steps (Python int).
      num_transitions_per_step: K, transitions per optimisation step.
      num_leapfrog_steps: L for `hmc`.
      learning_rate: Adam learning rate on the unconstrained (h, C).
      init_step_size: initial h (C starts at the identity).
      entropy_weight: initial beta.
      entropy_weight_rate: rho_beta of the beta rule.
      target_accept_prob: a*; `None` takes the kernel's default (0.55 MALA, 0.65 HMC).
      gradient_mode: `stop_target_grads` or `full`.
      entropy_estimator: `exact`, `stochastic` or `auto` (HMC only).
      jit_compile: Python bool, XLA-compile the optimisation step.
      seed: int or int32[2]; one stream per optimisation step.

    Returns:
      `AdaptKernelResults`.

    Raises:
      ConfigError: for an unknown kernel, preconditioner, mode or estimator.

    #### Examples

    ```python
    target = tfd.MultivariateNormalTriL(loc=mu, scale_tril=chol)
    result = tf_smvae.mcmc.adapt_kernel(
        target.log_prob, tf.zeros([256, 20]), kernel="mala", num_steps=1000, seed=1)
    kernel = tf_smvae.mcmc.PreconditionedMALA(
        target.log_prob, result.step_size, result.scale_tril)
    ```

    #### References

    [1]: Marcel Hirt, Michalis K. Titsias and Petros Dellaportas. Entropy-based adaptive
         Hamiltonian Monte Carlo. NeurIPS 2021.
    [2]: Michalis K. Titsias and Petros Dellaportas. Gradient-based adaptive Markov chain
         Monte Carlo. NeurIPS 2019.
    """
    spec = KERNELS.get(kernel, field="kernel")
    state = tf.convert_to_tensor(initial_state)
    params = KernelParameters(
        state.shape[-1], preconditioner, init_step_size=init_step_size, dtype=state.dtype.name
    )
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(params.trainable_variables)
    beta = tf.Variable(tf.cast(entropy_weight, state.dtype), trainable=False)
    config = dict(
        num_steps=num_transitions_per_step,
        kernel=kernel,
        num_leapfrog_steps=num_leapfrog_steps,
        gradient_mode=gradient_mode,
        entropy_estimator=entropy_estimator,
        target_accept_prob=spec.target_accept_prob
        if target_accept_prob is None
        else target_accept_prob,
        entropy_weight_rate=entropy_weight_rate,
    )
    step = _make_step_fn(target_log_prob_fn, params, optimizer, beta, config, jit_compile)
    seeds = tfp.random.split_seed(as_seed(seed), n=num_steps, salt="adapt_kernel")
    trace = []
    for i in range(num_steps):
        state, values = step(state, seeds[i])
        trace.append([v.numpy() for v in values])
    trace = AdaptationTrace(*[np.asarray(column) for column in zip(*trace)])
    return AdaptKernelResults(params.step_size, params.dense_scale_tril(), state, params, trace)
