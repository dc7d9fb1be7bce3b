"""Choosing HMC's trajectory length L by the expected whitened squared jump per gradient.

Short fixed trajectories (L = 2..5) are what the speed measure's local-Gaussian entropy
handles well, but on a well-conditioned (or well-preconditioned) target longer
trajectories move much further per gradient, which is why NUTS wins there. After (h, C)
are adapted, `choose_num_leapfrog_steps` runs a few transitions of every chain for each
candidate L and keeps the L with the largest

    J(L) = E[ alpha(z, z') ||C^{-1}(z' - z)||^2 ] / L,

the Rao-Blackwellised expected squared jump distance in C's whitened coordinates (where
the adapted target is close to isotropic) per gradient evaluation. On a Gaussian whose
whitened scales are 1, the leapfrog flow rotates each coordinate by about L h radians,
so J(L) ~ 2 d (1 - cos(L h)) / L: it grows with L up to about half a period and falls
after it, as the trajectory turns back (the U-turn NUTS detects).

#### References

[1]: Ziyu Wang, Shakir Mohamed, Nando de Freitas. Adaptive Hamiltonian and Riemann
     manifold Monte Carlo samplers. ICML 2013 (ESJD-normalised trajectory tuning).
[2]: Matthew D. Hoffman, Alexey Radul, Pavel Sountsov. An adaptive-MCMC scheme for setting
     trajectory lengths in Hamiltonian Monte Carlo. AISTATS 2021 (ChEES).
"""

import collections

import tensorflow as tf

from tf_smvae.mcmc import _scale
from tf_smvae.mcmc.hmc import PreconditionedHMC
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.seeds import as_seed
from tf_smvae.util.seeds import split_seed

__all__ = [
    "DEFAULT_CANDIDATES",
    "TrajectoryLengthResults",
    "choose_num_leapfrog_steps",
]

# Powers of two: J(L) is unimodal in L on Gaussians, so a doubling grid brackets its peak.
DEFAULT_CANDIDATES = (1, 2, 4, 8, 16, 32)

TrajectoryLengthResults = collections.namedtuple(
    "TrajectoryLengthResults",
    ["num_leapfrog_steps", "candidates", "jump_per_gradient", "accept_prob"],
)
TrajectoryLengthResults.__doc__ = """Output of `choose_num_leapfrog_steps`.

Fields:
  num_leapfrog_steps: the chosen L (Python int).
  candidates: the L tried, in order.
  jump_per_gradient: J(L) for each candidate (floats; NaN where no chain was finite).
  accept_prob: the mean acceptance probability for each candidate.
"""


def _jump_per_gradient(kernel, state, num_transitions, seed):
    """Mean over chains and transitions of alpha ||C^{-1}(z' - z)||^2 / L, and of alpha."""
    seeds = split_seed(seed, num_transitions, salt="trajectory_length")
    results = kernel.bootstrap_results(state)
    jumps, accepts = [], []
    for k in range(num_transitions):
        next_state, results = kernel.one_step(state, results, seed=seeds[k])
        alpha = tf.exp(tf.minimum(results.log_accept_ratio, 0.0))
        proposed = results.proposed_state
        whitened = _scale.solve(kernel.scale_tril, proposed - state)
        jump = alpha * tf.reduce_sum(tf.square(whitened), axis=-1)
        finite = tf.math.is_finite(jump)
        jumps.append(tf.where(finite, jump, tf.zeros_like(jump)))
        accepts.append(tf.where(finite, alpha, tf.zeros_like(alpha)))
        state = next_state
    jump = tf.reduce_mean(tf.stack(jumps)) / float(kernel.num_leapfrog_steps)
    return float(jump), float(tf.reduce_mean(tf.stack(accepts)))


def choose_num_leapfrog_steps(
    target_log_prob_fn,
    state,
    step_size,
    scale_tril=None,
    *,
    candidates=DEFAULT_CANDIDATES,
    num_transitions=4,
    seed,
):
    """Picks HMC's L from `candidates` by the expected whitened squared jump per gradient.

    Every chain runs `num_transitions` transitions of `PreconditionedHMC(h, C, L)` from
    `state` for each candidate L (the same seed for each, so the candidates are compared
    on common random numbers); the L with the largest J(L) (module docstring) wins. Costs
    `num_transitions * sum(candidates)` gradient evaluations per chain. Use it after h and
    C are adapted (`adapt_kernel(..., num_leapfrog_steps="auto")` does), with the chains
    in the bulk of the target.

    Args:
      target_log_prob_fn: the log target, `[B, d] -> [B]`.
      state: `[B, d]` chain states.
      step_size: the adapted h.
      scale_tril: the adapted C (`None`, `[d]` or `[d, d]`).
      candidates: the L values to try (ints >= 1).
      num_transitions: transitions per candidate (>= 1).
      seed: int or int32[2].

    Returns:
      `TrajectoryLengthResults`.

    Raises:
      ConfigError: for empty or non-positive `candidates` or `num_transitions` < 1.
    """
    candidates = tuple(int(c) for c in candidates)
    if not candidates or min(candidates) < 1:
        raise ConfigError(f"candidates must be ints >= 1, got {candidates}.")
    if int(num_transitions) < 1:
        raise ConfigError(f"num_transitions must be >= 1, got {num_transitions}.")
    state = tf.convert_to_tensor(state)
    seed = as_seed(seed)
    jumps, accepts = [], []
    for num_leapfrog_steps in candidates:
        kernel = PreconditionedHMC(target_log_prob_fn, step_size, scale_tril, num_leapfrog_steps)
        jump, accept = _jump_per_gradient(kernel, state, int(num_transitions), seed)
        jumps.append(jump)
        accepts.append(accept)
    finite = [j if j == j else -1.0 for j in jumps]  # NaN never wins
    best = max(range(len(candidates)), key=lambda i: finite[i])
    return TrajectoryLengthResults(candidates[best], candidates, tuple(jumps), tuple(accepts))
