"""A cheap initial step size: double or halve h until one transition's acceptance crosses a*."""

import math

import tensorflow as tf
import tensorflow_probability as tfp

__all__ = [
    "find_step_size",
    "mean_accept_prob",
    "with_step_size",
]


def mean_accept_prob(kernel_results):
    """Mean over chains of min(1, exp(log_accept_ratio)); 0 for a non-finite ratio."""
    log_accept_ratio = kernel_results.log_accept_ratio
    accept_prob = tf.exp(tf.minimum(log_accept_ratio, 0.0))
    accept_prob = tf.where(
        tf.math.is_finite(log_accept_ratio), accept_prob, tf.zeros_like(accept_prob)
    )
    return tf.reduce_mean(accept_prob)


def with_step_size(kernel_results, step_size):
    """MH results whose inner results carry `step_size` (the step the kernel reads)."""
    accepted = kernel_results.accepted_results
    return kernel_results._replace(
        accepted_results=accepted._replace(step_size=tf.cast(step_size, accepted.step_size.dtype))
    )


def find_step_size(
    kernel,
    current_state,
    kernel_results=None,
    *,
    target_accept_prob,
    max_doublings=40,
    num_bisections=0,
    seed,
):
    """Returns a starting h for `kernel` by doubling or halving its step size.

    From `current_state`, one transition is proposed with h (the chains do not move). If
    the mean acceptance probability is at least `target_accept_prob`, h is doubled until it
    falls below and the last h above is returned; otherwise h is halved until it reaches
    the target. Every trial reuses one seed (common random numbers), so the acceptance is a
    smooth function of h and the crossing is well defined. This is the heuristic of Stan's
    and NUTS's initial step size, with a* as the threshold. One trial costs one transition
    (L gradient evaluations); at most `max_doublings + 1` trials run, as a `tf.while_loop`
    (XLA-safe).

    The doubling brackets the crossing within a factor 2, where acceptance can still be
    anywhere in [a*, 1) (HMC's acceptance falls steeply in h). `num_bisections` > 0 then
    bisects log h in that bracket, each trial halving it (6 trials: within 2^(1/64) of the
    crossing), and returns the h of the bracket's end still at or above a*.

    Args:
      kernel: a calibrated `PreconditionedMALA` / `PreconditionedHMC` (or any kernel whose
        results' `accepted_results` carry the `step_size` it reads); its results' step
        size is the starting h.
      current_state: `[B, d]` chain states.
      kernel_results: the kernel's results at `current_state` (bootstrapped when `None`).
      target_accept_prob: the threshold a* in (0, 1).
      max_doublings: Python int, most doublings or halvings (2^40 ~ 1e12).
      num_bisections: Python int >= 0, bisection trials after the bracketing.
      seed: int32[2].

    Returns:
      Scalar step size, the dtype of `current_state`.

    #### References

    [1]: Matthew D. Hoffman and Andrew Gelman. The No-U-Turn sampler: adaptively setting path
         lengths in Hamiltonian Monte Carlo. JMLR, 15, 2014 (Algorithm 4).
    """
    current_state = tf.convert_to_tensor(current_state)
    if kernel_results is None:
        kernel_results = kernel.bootstrap_results(current_state)
    seed = tfp.random.sanitize_seed(seed)
    dtype = current_state.dtype
    log_two = tf.constant(math.log(2.0), dtype)

    def accept_prob(log_step_size):
        results = with_step_size(kernel_results, tf.exp(log_step_size))
        _, new_results = kernel.one_step(current_state, results, seed=seed)
        return mean_accept_prob(new_results)

    log_initial = tf.math.log(tf.cast(kernel_results.accepted_results.step_size, dtype))
    going_up = accept_prob(log_initial) >= target_accept_prob
    direction = tf.where(going_up, log_two, -log_two)

    def body(i, log_step_size, done):
        candidate = log_step_size + direction
        above = accept_prob(candidate) >= target_accept_prob
        crossed = tf.where(going_up, ~above, above)
        # Going up, the answer is the last h still above a*; going down, the first above.
        keep = crossed & going_up
        log_step_size = tf.where(keep, log_step_size, candidate)
        return i + 1, log_step_size, crossed

    _, log_step_size, crossed = tf.while_loop(
        lambda i, _, done: (i < max_doublings) & ~done,
        body,
        (tf.constant(0), log_initial, tf.constant(False)),
        maximum_iterations=max_doublings,
    )
    if num_bisections:
        log_step_size = _bisect(
            accept_prob, log_step_size, crossed, target_accept_prob, log_two, int(num_bisections)
        )
    return tf.exp(log_step_size)


def _bisect(accept_prob, log_step_size, crossed, target_accept_prob, log_two, num_bisections):
    """Bisects [log h, log h + log 2] (h at or above a*, 2h below) towards the crossing."""
    low, high = log_step_size, log_step_size + log_two

    def body(i, low, high):
        middle = 0.5 * (low + high)
        above = accept_prob(middle) >= target_accept_prob
        return i + 1, tf.where(above, middle, low), tf.where(above, high, middle)

    _, low, _ = tf.while_loop(
        lambda i, low, high: i < num_bisections,
        body,
        (tf.constant(0), low, high),
        maximum_iterations=num_bisections,
    )
    # Without a crossing (the doubling ran out) there is no bracket to refine.
    return tf.where(crossed, low, log_step_size)
