"""Dual-averaging step-size adaptation (the dsMALA / dsHMC baseline), state in Keras weights."""

import collections
import math

import keras
import tensorflow as tf

from tf_smvae.mcmc.chain import run_chain
from tf_smvae.util import replicas
from tf_smvae.util.errors import ConfigError

__all__ = [
    "DualAveragingState",
    "DualAveragingValues",
    "dual_averaging_update",
    "run_dual_averaging_chain",
]

DualAveragingValues = collections.namedtuple(
    "DualAveragingValues", ["log_step_size", "log_averaged_step_size", "error_sum", "step"]
)
DualAveragingValues.__doc__ = """State of dual averaging.

Fields:
  log_step_size: log h_t, the step size used while adapting.
  log_averaged_step_size: log h-bar_t, the averaged step size used for evaluation.
  error_sum: H-bar_t, the running mean of (a* - accept_prob).
  step: t, the number of updates so far (float).
"""


def dual_averaging_update(
    values, accept_prob, target_accept_prob, shrinkage_target, gamma=0.05, t0=10.0, kappa=0.75
):
    """One dual-averaging update of the log step size.

    t <- t + 1; H-bar <- (1 - 1/(t + t0)) H-bar + (a* - accept_prob)/(t + t0);
    log h <- mu - sqrt(t)/gamma H-bar; log h-bar <- t^-kappa log h + (1 - t^-kappa) log h-bar.

    Args:
      values: `DualAveragingValues`.
      accept_prob: scalar mean acceptance probability since the last update.
      target_accept_prob: a*.
      shrinkage_target: mu, usually log(10 h_0).
      gamma: shrinkage strength.
      t0: iteration offset that damps the first updates.
      kappa: averaging decay exponent in (0.5, 1].

    Returns:
      The updated `DualAveragingValues`.

    #### References

    [1]: Matthew D. Hoffman and Andrew Gelman. The No-U-Turn sampler: adaptively setting path
         lengths in Hamiltonian Monte Carlo. JMLR, 15, 2014.
    """
    step = values.step + 1.0
    accept_prob = tf.cast(accept_prob, values.error_sum.dtype)
    weight = 1.0 / (step + t0)
    error_sum = (1.0 - weight) * values.error_sum + weight * (target_accept_prob - accept_prob)
    log_step_size = shrinkage_target - tf.sqrt(step) / gamma * error_sum
    averaging = tf.pow(step, -kappa)
    log_averaged = averaging * log_step_size + (1.0 - averaging) * values.log_averaged_step_size
    return DualAveragingValues(log_step_size, log_averaged, error_sum, step)


@keras.saving.register_keras_serializable(package="tf_smvae")
class DualAveragingState(keras.layers.Layer):
    """Dual-averaging state (h, h-bar, H-bar, t) in non-trainable weights (checkpointed).

    Adapting uses `step_size` (h_t); evaluation uses `averaged_step_size` (h-bar_t), see
    `current_step_size(training)`. With `restart_each_batch=True`, `begin_batch()` resets the
    state (the paper's code restarted at every batch; off by default).

    #### References

    [1]: Matthew D. Hoffman and Andrew Gelman. The No-U-Turn sampler: adaptively setting path
         lengths in Hamiltonian Monte Carlo. JMLR, 15, 2014.
    """

    def __init__(
        self,
        init_step_size=0.1,
        target_accept_prob=0.65,
        gamma=0.05,
        t0=10.0,
        kappa=0.75,
        restart_each_batch=False,
        **kwargs,
    ):
        """Creates the state at h = h-bar = `init_step_size`, t = 0.

        Args:
          init_step_size: h_0 > 0; the shrinkage target is mu = log(10 h_0).
          target_accept_prob: a* in (0, 1).
          gamma: shrinkage strength.
          t0: iteration offset.
          kappa: averaging exponent.
          restart_each_batch: whether `begin_batch()` resets the state.
          **kwargs: `keras.layers.Layer` arguments.

        Raises:
          ConfigError: if `init_step_size <= 0` or `target_accept_prob` not in (0, 1).
        """
        super().__init__(**kwargs)
        if init_step_size <= 0.0 or not 0.0 < target_accept_prob < 1.0:
            raise ConfigError(
                f"Dual averaging needs init_step_size > 0 and 0 < target_accept_prob < 1; got "
                f"{init_step_size} and {target_accept_prob}."
            )
        self.init_step_size = float(init_step_size)
        self.target_accept_prob = float(target_accept_prob)
        self.gamma, self.t0, self.kappa = float(gamma), float(t0), float(kappa)
        self.restart_each_batch = bool(restart_each_batch)
        log_h0 = math.log(self.init_step_size)
        self._initial = DualAveragingValues(log_h0, log_h0, 0.0, 0.0)
        for name, value in zip(DualAveragingValues._fields, self._initial):
            weight = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(value),
                trainable=False,
                aggregation="only_first_replica",  # assigned identically on every replica
                name=name,
            )
            setattr(self, f"{name}_variable", weight)
        # mu = log(10 h_0), moved by `restart_at` to the h a warm start found.
        self.log_shrinkage_target = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(10.0 * self.init_step_size)),
            trainable=False,
            aggregation="only_first_replica",
            name="log_shrinkage_target",
        )
        self.built = True

    def _state_variables(self):
        return [getattr(self, f"{name}_variable") for name in DualAveragingValues._fields]

    @property
    def values(self):
        """The current `DualAveragingValues` as tensors."""
        return DualAveragingValues(*[tf.convert_to_tensor(w) for w in self._state_variables()])

    @property
    def step_size(self):
        """h_t, the step size while adapting."""
        return tf.exp(self.values.log_step_size)

    @property
    def averaged_step_size(self):
        """h-bar_t, the step size for evaluation."""
        return tf.exp(self.values.log_averaged_step_size)

    def current_step_size(self, training):
        """`step_size` if `training` (Python bool) else `averaged_step_size`."""
        return self.step_size if training else self.averaged_step_size

    def update(self, accept_prob):
        """Updates the state from the mean acceptance probability; returns the new h.

        Under a multi-replica strategy the acceptance is first averaged over replicas, so
        the state stays identical on every replica.
        """
        new = dual_averaging_update(
            self.values,
            replicas.all_reduce_mean(accept_prob),
            self.target_accept_prob,
            tf.convert_to_tensor(self.log_shrinkage_target),
            self.gamma,
            self.t0,
            self.kappa,
        )
        for weight, value in zip(self._state_variables(), new):
            weight.assign(value)
        return tf.exp(new.log_step_size)

    def reset(self):
        """Restores h = h-bar = h_0, H-bar = 0, t = 0 and mu = log(10 h_0)."""
        for weight, value in zip(self._state_variables(), self._initial):
            weight.assign(tf.cast(value, weight.dtype))
        self.log_shrinkage_target.assign(math.log(10.0 * self.init_step_size))

    def restart_at(self, step_size):
        """Restarts dual averaging from h = h-bar = `step_size` (mu = log(10 h), t = 0)."""
        log_h = tf.math.log(tf.cast(step_size, self.log_shrinkage_target.dtype))
        restarted = DualAveragingValues(log_h, log_h, tf.zeros_like(log_h), tf.zeros_like(log_h))
        for weight, value in zip(self._state_variables(), restarted):
            weight.assign(tf.cast(value, weight.dtype))
        self.log_shrinkage_target.assign(log_h + math.log(10.0))

    def begin_batch(self):
        """Resets the state if `restart_each_batch`; call at the start of a training step."""
        if self.restart_each_batch:
            self.reset()

    def call(self, inputs=None, training=False):
        """Returns `current_step_size(training)`; `inputs` is ignored."""
        del inputs
        return self.current_step_size(training)

    def get_config(self):
        config = super().get_config()
        config.update(
            init_step_size=self.init_step_size,
            target_accept_prob=self.target_accept_prob,
            gamma=self.gamma,
            t0=self.t0,
            kappa=self.kappa,
            restart_each_batch=self.restart_each_batch,
        )
        return config


def run_dual_averaging_chain(
    target_log_prob_fn, initial_state, state, *, training, scale_tril=None, **kwargs
):
    """Runs a chain with the dual-averaging step size; adapts only when `training`.

    Training: `state.begin_batch()`, run with h_t, then one `state.update` from the mean
    acceptance of the K transitions. Evaluation: run with h-bar_t and change nothing.

    Args:
      target_log_prob_fn: the log target.
      initial_state: `[B, d]`.
      state: a `DualAveragingState`.
      training: Python bool.
      scale_tril: fixed C (default identity).
      **kwargs: `run_chain` keyword arguments (`num_steps`, `kernel`, `seed` and the
        kernel's options).

    Returns:
      `ChainResults`.
    """
    if training:
        state.begin_batch()
    step_size = tf.cast(state.current_step_size(training), tf.as_dtype(initial_state.dtype))
    results = run_chain(target_log_prob_fn, initial_state, step_size, scale_tril, **kwargs)
    if training:
        state.update(results.accept_prob)
    return results
