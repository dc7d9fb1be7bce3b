"""Preconditioned Hamiltonian Monte Carlo with a closed-form, differentiable endpoint."""

import collections

import numpy as np
import tensorflow as tf

from tf_smvae.mcmc import _proposal
from tf_smvae.mcmc import _scale

__all__ = [
    "PreconditionedHMC",
    "PreconditionedHMCKernelResults",
    "UncalibratedPreconditionedHMC",
]

PreconditionedHMCKernelResults = collections.namedtuple(
    "PreconditionedHMCKernelResults",
    [
        "log_acceptance_correction",
        "target_log_prob",
        "grads_target_log_prob",
        "proposed_state",
        "momentum",
        "is_nonfinite",
        "seed",
        "step_size",
        "weighted_grads_sum",
        "grads_sum",
        "midpoint_state",
    ],
)
PreconditionedHMCKernelResults.__doc__ = """Internal state of `UncalibratedPreconditionedHMC`.

The fields of `PreconditionedMALAKernelResults` (`momentum` is the whitened draw v, the
initial momentum being p_0 = C^{-T} v), and three of the trajectory q_1, ..., q_{L-1} of
the proposal.

Fields:
  weighted_grads_sum: `[..., d]`, sum_{l=1}^{L-1} (L - l) grad log pi(q_l).
  grads_sum: `[..., d]`, sum_{l=1}^{L-1} grad log pi(q_l).
  midpoint_state: `[..., d]`, the trajectory midpoint q_m (mean of q_floor(L/2) and
    q_ceil(L/2); the current state when L = 1), where the entropy's Hessian is taken.
"""


def _midpoint_weights(num_leapfrog_steps):
    weights = np.zeros([num_leapfrog_steps + 1])
    weights[num_leapfrog_steps // 2] += 0.5
    weights[(num_leapfrog_steps + 1) // 2] += 0.5
    return weights


class UncalibratedPreconditionedHMC(_proposal.UncalibratedBase):
    """Preconditioned HMC proposal, to be wrapped in `tfp.mcmc.MetropolisHastings`.

    The inverse mass matrix is M^{-1} = C C^T and the initial momentum p_0 = C^{-T} v,
    v ~ N(0, I). The leapfrog recursion (all inputs held constant) gives the gradients at
    the interior points q_1, ..., q_{L-1}; the endpoint is then the closed form

      z' = z - (L h^2/2) C C^T grad U(z) + L h C v - h^2 C C^T sum_{l=1}^{L-1} (L - l) grad U(q_l),

    which equals the leapfrog endpoint and is differentiable in (h, C) with the interior
    gradients treated as constants. The acceptance uses the exact Hamiltonian error with
    kinetic energy ||C^T p||^2/2. With L = 1 the kernel is `UncalibratedPreconditionedMALA`
    (same seed, same proposal).

    #### References

    [1]: Radford M. Neal. MCMC using Hamiltonian dynamics. Handbook of Markov Chain Monte
         Carlo, 2011.
    [2]: Marcel Hirt, Michalis K. Titsias and Petros Dellaportas. Entropy-based adaptive
         Hamiltonian Monte Carlo. NeurIPS 2021.
    """

    _results_type = PreconditionedHMCKernelResults

    def __init__(
        self, target_log_prob_fn, step_size, scale_tril=None, num_leapfrog_steps=1, name=None
    ):
        """Creates the kernel.

        Args:
          target_log_prob_fn: maps a `[..., d]` state to `[...]` log-densities.
          step_size: scalar float tensor h > 0.
          scale_tril: the preconditioner C: `None` (identity), a `[d]` positive diagonal or a
            `[d, d]` lower-triangular matrix with a positive diagonal.
          num_leapfrog_steps: Python int L >= 1.
          name: name scope of the ops.

        Raises:
          ValueError: if `num_leapfrog_steps` is not a Python int >= 1.
        """
        if not isinstance(num_leapfrog_steps, (int, np.integer)) or num_leapfrog_steps < 1:
            raise ValueError(
                f"`num_leapfrog_steps` must be an int >= 1, got {num_leapfrog_steps!r}."
            )
        self._parameters = dict(
            target_log_prob_fn=target_log_prob_fn,
            step_size=step_size,
            scale_tril=scale_tril,
            num_leapfrog_steps=int(num_leapfrog_steps),
            name=name or "preconditioned_hmc",
        )

    def _trajectory(self, state, grads, momentum, step_size):
        zeros = tf.zeros_like(state)
        num_leapfrog_steps = self.num_leapfrog_steps
        if num_leapfrog_steps == 1:
            extra = dict(weighted_grads_sum=zeros, grads_sum=zeros, midpoint_state=state)
            return extra, None, None
        _, scale_tril = self._params(state.dtype)
        step_size = tf.stop_gradient(step_size)
        if scale_tril is not None:
            scale_tril = tf.stop_gradient(scale_tril)
        weights = tf.constant(_midpoint_weights(num_leapfrog_steps), dtype=state.dtype)
        state, grads, momentum = map(tf.stop_gradient, (state, grads, momentum))

        def body(step, position, velocity, weighted_sum, grads_sum, midpoint):
            position = position + step_size * _scale.matvec(scale_tril, velocity)
            _, new_grads = _proposal.value_and_grads(self.target_log_prob_fn, position)
            velocity = velocity + step_size * _scale.matvec_transpose(scale_tril, new_grads)
            lag = tf.cast(num_leapfrog_steps - step, state.dtype)
            midpoint = midpoint + tf.gather(weights, step) * position
            return (
                step + 1,
                position,
                velocity,
                weighted_sum + lag * new_grads,
                grads_sum + new_grads,
                midpoint,
            )

        velocity = momentum + (0.5 * step_size) * _scale.matvec_transpose(scale_tril, grads)
        loop_vars = (tf.constant(1), state, velocity, zeros, zeros, zeros)
        _, _, _, weighted_sum, grads_sum, midpoint = tf.while_loop(
            lambda step, *_: step < num_leapfrog_steps,
            body,
            loop_vars,
            maximum_iterations=num_leapfrog_steps - 1,
        )
        extra = dict(weighted_grads_sum=weighted_sum, grads_sum=grads_sum, midpoint_state=midpoint)
        return extra, weighted_sum, grads_sum


class PreconditionedHMC(_proposal.CalibratedBase):
    """Preconditioned HMC: `MetropolisHastings(UncalibratedPreconditionedHMC(...))`.

    Results are `tfp.mcmc.MetropolisHastingsKernelResults`.

    #### Examples

    ```python
    kernel = tf_smvae.mcmc.PreconditionedHMC(
        target.log_prob, step_size=0.3, scale_tril=chol, num_leapfrog_steps=5)
    samples = tfp.mcmc.sample_chain(
        100, current_state=tf.zeros([64, 10]), kernel=kernel, trace_fn=None, seed=[1, 2])
    ```

    #### References

    [1]: Radford M. Neal. MCMC using Hamiltonian dynamics. Handbook of Markov Chain Monte
         Carlo, 2011.
    """

    def __init__(
        self, target_log_prob_fn, step_size, scale_tril=None, num_leapfrog_steps=1, name=None
    ):
        """Creates the kernel; arguments as `UncalibratedPreconditionedHMC`."""
        super().__init__(
            UncalibratedPreconditionedHMC(
                target_log_prob_fn, step_size, scale_tril, num_leapfrog_steps, name=name
            ),
            name=name or "preconditioned_hmc",
        )
