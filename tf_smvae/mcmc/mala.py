"""Preconditioned Metropolis-adjusted Langevin algorithm (MALA)."""

import collections

from tf_smvae.mcmc import _proposal

__all__ = [
    "PreconditionedMALA",
    "PreconditionedMALAKernelResults",
    "UncalibratedPreconditionedMALA",
]

PreconditionedMALAKernelResults = collections.namedtuple(
    "PreconditionedMALAKernelResults",
    [
        "log_acceptance_correction",
        "target_log_prob",
        "grads_target_log_prob",
        "proposed_state",
        "momentum",
        "is_nonfinite",
        "seed",
        "step_size",
    ],
)
PreconditionedMALAKernelResults.__doc__ = """Internal state of `UncalibratedPreconditionedMALA`.

Fields:
  log_acceptance_correction: `[...]`, ||v||^2/2 - ||v - (h/2) C^T (grad U(z) + grad U(z'))||^2/2
    (0 where the proposal is not finite).
  target_log_prob: `[...]`, log pi at the state these results describe (-inf if not finite).
  grads_target_log_prob: `[..., d]`, grad log pi at that state.
  proposed_state: `[..., d]`, the proposal z'.
  momentum: `[..., d]`, the standard normal draw v that made the proposal.
  is_nonfinite: `[...]` bool, the proposal's energy or gradient was not finite.
  seed: int32[2], the seed of the step (replays it).
  step_size: scalar h the step used (the kernel's `step_size` at bootstrap). `one_step`
    reads h from here, as TFP's HMC does, so `tfp.mcmc.SimpleStepSizeAdaptation` and
    `DualAveragingStepSizeAdaptation` can wrap the kernel.
"""


class UncalibratedPreconditionedMALA(_proposal.UncalibratedBase):
    """Preconditioned Langevin proposal, to be wrapped in `tfp.mcmc.MetropolisHastings`.

    The proposal is z' = z - (h^2/2) C C^T grad U(z) + h C v with v ~ N(0, I), U = -log pi.
    `log_acceptance_correction` makes `MetropolisHastings` accept with probability
    min(1, exp(-Delta)), Delta the energy error of DESIGN section 4.2. Proposals whose target,
    gradient or correction is not finite get `target_log_prob = -inf` and are always rejected.

    The chain state is `[..., d]`: each leading index is an independent chain and
    `target_log_prob_fn` returns one value per chain.

    #### References

    [1]: Gareth O. Roberts and Richard L. Tweedie. Exponential convergence of Langevin
         distributions and their discrete approximations. Bernoulli, 2(4), 1996.
    [2]: Mark Girolami and Ben Calderhead. Riemann manifold Langevin and Hamiltonian Monte
         Carlo methods. JRSS B, 73(2), 2011.
    """

    _results_type = PreconditionedMALAKernelResults

    def __init__(self, target_log_prob_fn, step_size, scale_tril=None, name=None):
        """Creates the kernel.

        Args:
          target_log_prob_fn: maps a `[..., d]` state to `[...]` log-densities.
          step_size: scalar float tensor h > 0.
          scale_tril: the preconditioner C: `None` (identity), a `[d]` positive diagonal or a
            `[d, d]` lower-triangular matrix with a positive diagonal.
          name: name scope of the ops.
        """
        self._parameters = dict(
            target_log_prob_fn=target_log_prob_fn,
            step_size=step_size,
            scale_tril=scale_tril,
            name=name or "preconditioned_mala",
        )

    def _trajectory(self, state, grads, momentum, step_size):
        del state, grads, momentum, step_size
        return {}, None, None


class PreconditionedMALA(_proposal.CalibratedBase):
    """Preconditioned MALA: `MetropolisHastings(UncalibratedPreconditionedMALA(...))`.

    Results are `tfp.mcmc.MetropolisHastingsKernelResults` (`log_accept_ratio`,
    `is_accepted`, `proposed_state`, `proposed_results`, `accepted_results`, `seed`).

    #### Examples

    ```python
    kernel = tf_smvae.mcmc.PreconditionedMALA(target.log_prob, step_size=0.5, scale_tril=chol)
    samples = tfp.mcmc.sample_chain(
        100, current_state=tf.zeros([64, 10]), kernel=kernel, trace_fn=None, seed=[1, 2])
    ```

    #### References

    [1]: Gareth O. Roberts and Richard L. Tweedie. Exponential convergence of Langevin
         distributions and their discrete approximations. Bernoulli, 2(4), 1996.
    [2]: Mark Girolami and Ben Calderhead. Riemann manifold Langevin and Hamiltonian Monte
         Carlo methods. JRSS B, 73(2), 2011.
    """

    def __init__(self, target_log_prob_fn, step_size, scale_tril=None, name=None):
        """Creates the kernel; arguments as `UncalibratedPreconditionedMALA`."""
        super().__init__(
            UncalibratedPreconditionedMALA(target_log_prob_fn, step_size, scale_tril, name=name),
            name=name or "preconditioned_mala",
        )
