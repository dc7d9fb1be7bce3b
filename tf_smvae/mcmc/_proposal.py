"""Closed-form preconditioned Langevin/leapfrog proposals shared by MALA and HMC.

Gradients here are of the log target, G = grad log pi = -grad U (TFP's
`grads_target_log_prob`). With M^{-1} = C C^T, p_0 = C^{-T} v and L leapfrog steps of
size h, the endpoint is

  z' = z + h^2 C C^T (L/2 G(z) + sum_{l=1}^{L-1} (L - l) G(q_l)) + L h C v,

and the whitened final momentum is

  C^T p_L = v + (h/2) C^T (G(z) + 2 sum_{l=1}^{L-1} G(q_l) + G(z')).

The Hamiltonian error is Delta = U(z') - U(z) + ||C^T p_L||^2/2 - ||v||^2/2, so
log_accept_ratio = log pi(z') - log pi(z) + log_acceptance_correction with
log_acceptance_correction = ||v||^2/2 - ||C^T p_L||^2/2. With L = 1 this is MALA.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.mcmc import _scale
from tf_smvae.util.seeds import split_seed


def value_and_grads(target_log_prob_fn, state):
    """Returns `(target_log_prob, grads_target_log_prob)` at `state`."""
    return tfp.math.value_and_gradient(target_log_prob_fn, state)


def draw_momentum(seed, state):
    """Draws the whitened momentum v ~ N(0, I) shaped like `state`."""
    (momentum_seed,) = split_seed(seed, n=1, salt="momentum")
    return tf.random.stateless_normal(tf.shape(state), seed=momentum_seed, dtype=state.dtype)


def endpoint(
    state, grads, momentum, step_size, scale_tril, num_leapfrog_steps=1, weighted_grads_sum=None
):
    """Returns the closed-form endpoint z' of L preconditioned leapfrog steps.

    Args:
      state: current state z, `[..., d]`.
      grads: G(z), gradient of the log target at `state`.
      momentum: whitened momentum v, `[..., d]`.
      step_size: scalar h.
      scale_tril: C (see `_scale`).
      num_leapfrog_steps: static Python int L.
      weighted_grads_sum: sum_{l=1}^{L-1} (L - l) G(q_l), or `None` when L = 1.

    Returns:
      z', differentiable in `(step_size, scale_tril)` for fixed inputs.
    """
    drift = (0.5 * float(num_leapfrog_steps)) * grads
    if weighted_grads_sum is not None:
        drift = drift + weighted_grads_sum
    return (
        state
        + tf.square(step_size) * _scale.precondition(scale_tril, drift)
        + (float(num_leapfrog_steps) * step_size) * _scale.matvec(scale_tril, momentum)
    )


def log_acceptance_correction(
    momentum, step_size, scale_tril, grads, proposed_grads, grads_sum=None
):
    """Returns ||v||^2/2 - ||C^T p_L||^2/2 (see the module docstring)."""
    total = grads + proposed_grads
    if grads_sum is not None:
        total = total + 2.0 * grads_sum
    final = momentum + (0.5 * step_size) * _scale.matvec_transpose(scale_tril, total)
    return 0.5 * tf.reduce_sum(tf.square(momentum) - tf.square(final), axis=-1)


def is_nonfinite(proposed_state, target_log_prob, grads, correction):
    """Returns a per-chain bool: the proposal's energy or gradient is not finite."""
    finite = (
        tf.math.is_finite(target_log_prob)
        & tf.math.is_finite(correction)
        & tf.reduce_all(tf.math.is_finite(proposed_state), axis=-1)
        & tf.reduce_all(tf.math.is_finite(grads), axis=-1)
    )
    return ~finite


class UncalibratedBase(tfp.mcmc.TransitionKernel):
    """Shared `one_step`/`bootstrap_results` of the uncalibrated proposals.

    Subclasses set `_results_type` and implement `_trajectory`, which returns the extra
    results fields (a dict) and the weighted gradient sums used by the endpoint.
    """

    _results_type = None

    @property
    def target_log_prob_fn(self):
        return self._parameters["target_log_prob_fn"]

    @property
    def step_size(self):
        return self._parameters["step_size"]

    @property
    def scale_tril(self):
        return self._parameters["scale_tril"]

    @property
    def num_leapfrog_steps(self):
        return self._parameters.get("num_leapfrog_steps", 1)

    @property
    def name(self):
        return self._parameters["name"]

    @property
    def parameters(self):
        """Returns the `dict` of `__init__` arguments."""
        return self._parameters

    @property
    def is_calibrated(self):
        return False

    def _params(self, dtype):
        """Returns `(step_size, scale_tril)` as tensors of `dtype` (`scale_tril` may be None)."""
        step_size = tf.convert_to_tensor(self.step_size, dtype=dtype)
        scale_tril = self.scale_tril
        if scale_tril is not None:
            scale_tril = tf.convert_to_tensor(scale_tril, dtype=dtype)
        return step_size, scale_tril

    def _trajectory(self, state, grads, momentum, step_size):
        """Returns `(extra_fields, weighted_grads_sum, grads_sum)`; None sums for L = 1."""
        raise NotImplementedError

    def one_step(self, current_state, previous_kernel_results, seed=None):
        """Proposes z' from `current_state`; see `tfp.mcmc.TransitionKernel.one_step`."""
        with tf.name_scope(self.name):
            seed = tfp.random.sanitize_seed(seed)
            current_state = tf.convert_to_tensor(current_state)
            _, scale_tril = self._params(current_state.dtype)
            # h comes from the results (set at bootstrap), as in TFP's HMC, so that TFP's
            # step-size adapters can replace it between steps.
            step_size = tf.cast(previous_kernel_results.step_size, current_state.dtype)
            grads = previous_kernel_results.grads_target_log_prob
            momentum = draw_momentum(seed, current_state)
            extra, weighted_grads_sum, grads_sum = self._trajectory(
                current_state, grads, momentum, step_size
            )
            proposed_state = endpoint(
                current_state,
                grads,
                momentum,
                step_size,
                scale_tril,
                self.num_leapfrog_steps,
                weighted_grads_sum,
            )
            target_log_prob, proposed_grads = value_and_grads(
                self.target_log_prob_fn, proposed_state
            )
            correction = log_acceptance_correction(
                momentum, step_size, scale_tril, grads, proposed_grads, grads_sum
            )
            nonfinite = is_nonfinite(proposed_state, target_log_prob, proposed_grads, correction)
            results = self._results_type(
                log_acceptance_correction=tf.where(
                    nonfinite, tf.zeros_like(correction), correction
                ),
                target_log_prob=tf.where(
                    nonfinite, tf.constant(-float("inf"), target_log_prob.dtype), target_log_prob
                ),
                grads_target_log_prob=proposed_grads,
                proposed_state=proposed_state,
                momentum=momentum,
                is_nonfinite=nonfinite,
                seed=seed,
                step_size=step_size,
                **extra,
            )
            return proposed_state, results

    def bootstrap_results(self, init_state):
        """Evaluates the target and its gradient at `init_state`."""
        with tf.name_scope(self.name):
            init_state = tf.convert_to_tensor(init_state)
            step_size, _ = self._params(init_state.dtype)
            target_log_prob, grads = value_and_grads(self.target_log_prob_fn, init_state)
            zeros = tf.zeros_like(init_state)
            extra = {f: zeros for f in self._results_type._fields if f.endswith("_sum")}
            if "midpoint_state" in self._results_type._fields:
                extra["midpoint_state"] = init_state
            return self._results_type(
                log_acceptance_correction=tf.zeros_like(target_log_prob),
                target_log_prob=target_log_prob,
                grads_target_log_prob=grads,
                proposed_state=init_state,
                momentum=zeros,
                is_nonfinite=tf.zeros_like(target_log_prob, dtype=tf.bool),
                seed=tf.zeros([2], tf.int32),
                step_size=step_size,
                **extra,
            )


class CalibratedBase(tfp.mcmc.TransitionKernel):
    """`MetropolisHastings` around an uncalibrated kernel, as TFP's `HamiltonianMonteCarlo`."""

    def __init__(self, uncalibrated_kernel, name):
        self._impl = tfp.mcmc.MetropolisHastings(uncalibrated_kernel)
        self._parameters = dict(uncalibrated_kernel.parameters, name=name)

    @property
    def target_log_prob_fn(self):
        return self._impl.inner_kernel.target_log_prob_fn

    @property
    def step_size(self):
        return self._impl.inner_kernel.step_size

    @property
    def scale_tril(self):
        return self._impl.inner_kernel.scale_tril

    @property
    def num_leapfrog_steps(self):
        """L, the leapfrog steps of one proposal (1 for MALA)."""
        return self._impl.inner_kernel.num_leapfrog_steps

    @property
    def name(self):
        return self._parameters["name"]

    @property
    def parameters(self):
        """Returns the `dict` of `__init__` arguments."""
        return self._parameters

    @property
    def is_calibrated(self):
        return True

    def one_step(self, current_state, previous_kernel_results, seed=None):
        """One Metropolis-Hastings step; results are `MetropolisHastingsKernelResults`."""
        return self._impl.one_step(current_state, previous_kernel_results, seed=seed)

    def bootstrap_results(self, init_state):
        """Returns the `MetropolisHastingsKernelResults` at `init_state`."""
        return self._impl.bootstrap_results(init_state)
