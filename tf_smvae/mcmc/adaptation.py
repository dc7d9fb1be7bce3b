"""`SpeedMeasureAdaptation`: the speed-measure warm-up as a TFP `TransitionKernel`.

It wraps one of our calibrated kernels the way `tfp.mcmc.DualAveragingStepSizeAdaptation`
wraps HMC: for the first `num_adaptation_steps` steps every transition also takes one Adam
step on the preconditioner C (and, under the paper's rule, on h) along the gradient of
that transition's speed measure; afterwards the kernel samples with the learned (h, C).
All state (the unconstrained h and C, Adam's moments, beta, the dual-averaging state)
lives in the kernel results, so the warm-up runs inside `tfp.mcmc.sample_chain` and
compiles with XLA.
"""

import collections
import math

import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.mcmc import _scale
from tf_smvae.mcmc.dual_averaging import DualAveragingValues
from tf_smvae.mcmc.dual_averaging import dual_averaging_update
from tf_smvae.mcmc.kernel_parameters import PRECONDITIONERS
from tf_smvae.mcmc.kernels import KERNELS
from tf_smvae.mcmc.kernels import kernel_name_of
from tf_smvae.mcmc.precision import covariance_estimate_name
from tf_smvae.mcmc.precision import empty_moments
from tf_smvae.mcmc.precision import pooled_update
from tf_smvae.mcmc.precision import scale_from_moments
from tf_smvae.mcmc.speed_measure import speed_measure_gradients
from tf_smvae.mcmc.speed_measure import update_entropy_weight
from tf_smvae.mcmc.step_size_search import find_step_size
from tf_smvae.mcmc.step_size_search import mean_accept_prob
from tf_smvae.mcmc.step_size_search import with_step_size
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry
from tf_smvae.util.seeds import split_seed

__all__ = [
    "STEP_SIZE_ADAPTATIONS",
    "AdamState",
    "SpeedMeasureAdaptation",
    "SpeedMeasureAdaptationResults",
]

# How h moves during the main phase; C always follows the speed measure.
STEP_SIZE_ADAPTATIONS = Registry("step size adaptation")
STEP_SIZE_ADAPTATIONS.register("speed_measure")(
    "h by the speed-measure gradient and beta by the entropy-weight rule (the paper's)"
)
STEP_SIZE_ADAPTATIONS.register("dual_averaging")(
    "h by dual averaging towards a*, C normalised to unit geometric-mean diagonal"
)

# Dual averaging's shrinkage gamma. Stan's 0.05 suits one noisy chain; with the mean
# acceptance of many chains it overshoots (log h moves by ~20 (a - a*)/sqrt(t) a step,
# so HMC's h cycled by 2x a step in short windows); 0.5 moves h ten times more gently.
DUAL_AVERAGING_GAMMA = 0.5

# Energy errors above this count as divergences (Stan's and TFP's NUTS use 1000).
MAX_ENERGY_ERROR = 1000.0

AdamState = collections.namedtuple("AdamState", ["iterations", "m", "v"])
AdamState.__doc__ = """Adam's state: the update count and the first and second moments
(tuples aligned with the adapted variables)."""

SpeedMeasureAdaptationResults = collections.namedtuple(
    "SpeedMeasureAdaptationResults",
    [
        "inner_results",
        "step",
        "step_size",
        "unconstrained_step_size",
        "unconstrained_scale",
        "optimizer_state",
        "entropy_weight",
        "dual_averaging",
        "log_shrinkage_target",
        "accept_prob",
        "entropy",
        "num_excluded_chains",
        "num_dropped_grads",
        "num_nonfinite",
        "num_divergences",
        "num_backoffs",
        "rejections_in_a_row",
        "num_restarts",
        "covariance",
        "seed",
    ],
)
SpeedMeasureAdaptationResults.__doc__ = """Results of `SpeedMeasureAdaptation`.

Fields:
  inner_results: the inner kernel's `MetropolisHastingsKernelResults`.
  step: int32, transitions taken so far.
  step_size: h the next transition uses (after the warm-up: the final h).
  unconstrained_step_size: log h learned by the speed measure (the paper's rule).
  unconstrained_scale: C's unconstrained vector (`[0]` for `identity`).
  optimizer_state: `AdamState` of (log h, C).
  entropy_weight: beta.
  dual_averaging: `DualAveragingValues` of log h.
  log_shrinkage_target: dual averaging's mu: log(10 h_0), log h after the step-size
    search and at the final window's restart (lowered by each back-off).
  accept_prob: mean acceptance probability of the last transition.
  entropy: mean proposal entropy of the last transition (0 when not adapting).
  num_excluded_chains: int32, chains the last speed measure left out (non-finite terms).
  num_dropped_grads: int32, 1 when the last kernel gradient was dropped whole.
  num_nonfinite: int32, chains whose last proposal was not finite.
  num_divergences: int32, chains whose last energy error exceeded 1000 or was not finite.
  num_backoffs: int32, 1 when the last transition halved h (nearly every chain rejected).
  rejections_in_a_row: int32 `[B]`, each chain's proposals rejected since its last
    acceptance (or restart).
  num_restarts: int32, chains the last step restarted from a moving chain's state.
  covariance: `PooledMoments` of the chains' states over the covariance window.
  seed: int32[2] of the last step.
"""


# C is estimated at the ends of windows N/16 .. N/8, .. N/4, .. N/2 (N: warm-up steps):
# each estimate lets the chains reach and spread over the typical set faster for the next.
COVARIANCE_WINDOWS = 4

# Largest norm of one step's gradient on C's shape when h follows dual averaging.
SHAPE_GRAD_CLIP_NORM = 1.0

# A chain is stuck after this many rejections in a row. A chain at acceptance 0.55 gets
# there with probability 0.45^50 ~ 5e-18 a step; one started where the gradient is orders
# of magnitude steeper than where the others are (the shared h is far too large for it)
# never leaves its start.
STUCK_AFTER_REJECTIONS = 50


def normalise_scale_tril(scale_tril):
    """C / exp(mean log diag C): the shape of C, unit geometric-mean diagonal.

    Args:
      scale_tril: C in compact form (`None`, `[d]` or `[d, d]`).

    Returns:
      C scaled so that its diagonal has geometric mean 1 (`None` for the identity).
    """
    if scale_tril is None:
        return None
    diag = scale_tril if scale_tril.shape.rank == 1 else tf.linalg.diag_part(scale_tril)
    return scale_tril / tf.exp(tf.reduce_mean(tf.math.log(diag)))


def _adam(state, variables, grads, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """One Adam descent step (Keras 3's formula); returns `(new variables, new state)`."""
    iterations = state.iterations + 1
    power = tf.cast(iterations, variables[0].dtype)
    alpha = learning_rate * tf.sqrt(1.0 - beta_2**power) / (1.0 - beta_1**power)
    new_m, new_v, new_variables = [], [], []
    for variable, grad, m, v in zip(variables, grads, state.m, state.v):
        m = m + (grad - m) * (1.0 - beta_1)
        v = v + (tf.square(grad) - v) * (1.0 - beta_2)
        new_variables.append(variable - m * alpha / (tf.sqrt(v) + epsilon))
        new_m.append(m)
        new_v.append(v)
    return new_variables, AdamState(iterations, tuple(new_m), tuple(new_v))


class SpeedMeasureAdaptation(tfp.mcmc.TransitionKernel):
    """Adapts h and C of a `PreconditionedMALA`/`PreconditionedHMC` by the speed measure.

    Phases, for `N = num_adaptation_steps` and `F = num_final_steps`:

    1. Step 0: `find_step_size` (double/halve h from the inner kernel's step size until one
       transition's mean acceptance crosses a*).
    2. Steps 0 .. N-F-1, the main phase: after each transition, one Adam ascent step on C's
       unconstrained vector along the gradient of the transition's speed measure
       F = log alpha + beta H (chains with non-finite terms left out). h follows
       `step_size_adaptation`:
       - `speed_measure` (the paper's rule): h by the same gradient
         (on log h) and beta <- clip(beta (1 + rate (accept - a*)), 1e-3, 1e2).
       - `dual_averaging` (the default): h by dual averaging towards a*, beta fixed and
         C normalised to a unit geometric-mean diagonal, so that the speed measure learns
         the shape of C and h its scale. With L >= 2 the local-Gaussian entropy has a fixed
         maximiser whatever beta is, so the paper's rule cannot bring HMC's acceptance down
         to a* (DESIGN 4.4); this rule reaches a* by construction. For MALA it also
         gave more ESS per gradient than the paper's rule on `bench/adaptation.py`'s
         targets (logistic regression 91 against 76 per 1000 gradients, rotated
         Gaussian d = 100 49 against 43), and on a cold-started regression the paper's
         rule shrank h to 1e-4 at acceptance ~1 while beta ran to its clip.
    3. Steps N-F .. N-1, the final window: C frozen, dual averaging of h restarted from
       the current h (Stan's last fast window); the sampling h is its average h-bar.
    4. From step N on: samples with the final (h, C); nothing changes.

    With `estimate_covariance` (the default for `diag` and `tril`), the states x of the
    chains and the gradients g of the log target there are pooled over doubling windows
    [N/16, N/8), [N/8, N/4), [N/4, N/2), and at the end of each C is set from the
    precision estimate P = -Cov(g, x) Cov(x)^-1, symmetrised and with its eigenvalues
    floored: the regression of the gradients on the states
    (exact for a Gaussian target, P = Sigma^-1, however little the chains have spread;
    an average Hessian otherwise): C = chol(P^-1) (`tril`) or the square roots of P^-1's
    diagonal (`diag`). Adam restarts, h is searched again, and the speed measure refines
    this C until the final window. Learning C from the identity by gradient steps alone
    is slow where the target's scales differ by orders of magnitude from 1 (C's entries
    move by about `learning_rate` a step: a regression coefficient with posterior sd 300
    needs thousands of steps), and the chains' own covariance is no better while they
    have not yet spread along the slow directions. The covariances are taken about one
    mean for all chains (`"across_chains"`, the default: the chains share one target)
    or about each chain's own mean (`"within_chains"`: for chains that target different
    posteriors of one shape, such as a VAE's posteriors for a batch of data points;
    slower to converge from a cold start, where each chain's states lie along its path).

    A back-off halves h whenever the mean acceptance of a transition falls below
    `backoff_accept_prob` during the warm-up (a cold start in a narrow region). During
    the first half of the warm-up a chain whose last `restart_stuck_after` proposals were
    all rejected is restarted from the state of a chain drawn at random among those that
    move: h is shared by all chains, so a chain started where the target is orders of
    magnitude steeper than where the others are (a scale parameter far in a tail) would
    otherwise reject every proposal for the rest of the run and ruin R-hat. The restarted
    copies decorrelate over the second half; the sampling phase never restarts a chain.

    How many steps suffice: on Gaussians up to d = 100 and condition number 1e3 and on the
    Bayesian targets of `bench/adaptation.py`, 1000 warm-up steps with 64-256 chains learn
    a tril C within a few percent of its final speed (a lower-triangular C has
    d (d + 1)/2 entries: scale N with d for d >> 100); diag C and identity settle in a few
    hundred. The final window needs ~100 steps for dual averaging to settle.

    #### Examples

    ```python
    inner = tf_smvae.mcmc.PreconditionedMALA(target.log_prob, step_size=0.1)
    kernel = tf_smvae.mcmc.SpeedMeasureAdaptation(inner, 1000, preconditioner="tril")
    samples = tfp.mcmc.sample_chain(
        2000, tf.zeros([64, 20]), kernel=kernel, num_burnin_steps=1000,
        trace_fn=None, seed=[1, 2])
    ```

    #### References

    [1]: Marcel Hirt, Michalis K. Titsias and Petros Dellaportas. Entropy-based adaptive
         Hamiltonian Monte Carlo. NeurIPS 2021.
    [2]: Michalis K. Titsias and Petros Dellaportas. Gradient-based adaptive Markov chain
         Monte Carlo. NeurIPS 2019.
    [3]: Matthew D. Hoffman and Andrew Gelman. The No-U-Turn sampler: adaptively setting path
         lengths in Hamiltonian Monte Carlo. JMLR, 15, 2014.
    """

    def __init__(
        self,
        inner_kernel,
        num_adaptation_steps,
        *,
        preconditioner=None,
        step_size_adaptation=None,
        target_accept_prob=None,
        learning_rate=0.01,
        entropy_weight=1.0,
        entropy_weight_rate=0.02,
        num_final_steps=None,
        search_step_size=True,
        backoff_accept_prob=0.01,
        restart_stuck_after=STUCK_AFTER_REJECTIONS,
        estimate_covariance=True,
        gradient_mode="stop_target_grads",
        entropy_estimator="auto",
        estimator_options=None,
        name=None,
    ):
        """Creates the kernel.

        Args:
          inner_kernel: a `PreconditionedMALA` or `PreconditionedHMC`; its step size and
            preconditioner are the starting (h, C) (C = I when it has none).
          num_adaptation_steps: Python int N, transitions that adapt (use as
            `num_burnin_steps` of `sample_chain`).
          preconditioner: `identity`, `diag` or `tril`; `None` takes the form of the
            inner kernel's `scale_tril` (`None`: identity, `[d]`: diag, `[d, d]`: tril).
          step_size_adaptation: `speed_measure` or `dual_averaging`; `None` takes the
            kernel's default (`KERNELS`).
          target_accept_prob: a*; `None` takes the kernel's default (0.55 MALA, 0.65 HMC).
          learning_rate: Adam's learning rate on the unconstrained (log h, C).
          entropy_weight: initial beta.
          entropy_weight_rate: rho_beta of the beta rule (`speed_measure` only).
          num_final_steps: Python int F, the final window (default N // 5; 0 for none).
          search_step_size: Python bool, run `find_step_size` at step 0.
          backoff_accept_prob: halve h when a transition's mean acceptance is below this.
          restart_stuck_after: Python int, rejections in a row after which a chain is
            restarted from a moving chain's state (first half of the warm-up; 0: never).
          estimate_covariance: `across_chains` (or `True`), `within_chains`, or `False`:
            set C at steps N/8, N/4 and N/2 from the precision the chains' states and
            gradients over the window before imply (ignored for `identity`).
          gradient_mode: `stop_target_grads` or `full`.
          entropy_estimator: `exact`, `stochastic` or `auto` (HMC with L >= 2).
          estimator_options: dict of the estimator's keyword arguments.
          name: name scope.

        Raises:
          ConfigError: for an unknown kernel, preconditioner or rule, or bad step counts.
        """
        kernel_name = kernel_name_of(inner_kernel)
        spec = KERNELS.get(kernel_name)
        if preconditioner is None:
            scale = inner_kernel.scale_tril
            preconditioner = _scale._kind(None if scale is None else tf.convert_to_tensor(scale))
        PRECONDITIONERS.get(preconditioner, field="preconditioner")
        step_size_adaptation = step_size_adaptation or spec.step_size_adaptation
        STEP_SIZE_ADAPTATIONS.get(step_size_adaptation, field="step_size_adaptation")
        num_adaptation_steps = int(num_adaptation_steps)
        if num_final_steps is None:
            num_final_steps = num_adaptation_steps // 5
        if num_adaptation_steps < 0 or not 0 <= int(num_final_steps) <= num_adaptation_steps:
            raise ConfigError(
                "num_adaptation_steps must be >= 0 and num_final_steps in "
                f"[0, num_adaptation_steps]; got {num_adaptation_steps}, {num_final_steps}."
            )
        if target_accept_prob is None:
            target_accept_prob = spec.target_accept_prob
        if not 0.0 < target_accept_prob < 1.0:
            raise ConfigError(f"target_accept_prob must be in (0, 1), got {target_accept_prob}.")
        if int(restart_stuck_after) < 0:
            raise ConfigError(f"restart_stuck_after must be >= 0, got {restart_stuck_after}.")
        self._parameters = dict(
            inner_kernel=inner_kernel,
            num_adaptation_steps=num_adaptation_steps,
            preconditioner=preconditioner,
            step_size_adaptation=step_size_adaptation,
            target_accept_prob=float(target_accept_prob),
            learning_rate=float(learning_rate),
            entropy_weight=float(entropy_weight),
            entropy_weight_rate=float(entropy_weight_rate),
            num_final_steps=int(num_final_steps),
            search_step_size=bool(search_step_size),
            backoff_accept_prob=float(backoff_accept_prob),
            restart_stuck_after=int(restart_stuck_after),
            estimate_covariance=covariance_estimate_name(estimate_covariance),
            gradient_mode=gradient_mode,
            entropy_estimator=entropy_estimator,
            estimator_options=estimator_options,
            name=name or "speed_measure_adaptation",
        )
        self._preconditioner = PRECONDITIONERS.get(preconditioner)

    @property
    def parameters(self):
        """Returns the `dict` of `__init__` arguments."""
        return self._parameters

    @property
    def inner_kernel(self):
        return self._parameters["inner_kernel"]

    @property
    def num_adaptation_steps(self):
        return self._parameters["num_adaptation_steps"]

    @property
    def is_calibrated(self):
        return True

    @property
    def _uses_dual_averaging(self):
        return self._parameters["step_size_adaptation"] == "dual_averaging"

    @property
    def _main_steps(self):
        return self.num_adaptation_steps - self._parameters["num_final_steps"]

    @property
    def _covariance_windows(self):
        """Window boundaries `(b_0, ..., b_K)` of the precision estimates (N/16 .. N/2,
        doubling); `()` when C is not estimated."""
        n = self.num_adaptation_steps
        if self._parameters["estimate_covariance"] is None or n < 32:
            return ()
        if self._parameters["preconditioner"] == "identity":
            return ()
        bounds = [min(n // 2**k, self._main_steps) for k in range(COVARIANCE_WINDOWS, 0, -1)]
        return tuple(sorted(set(bounds)))

    def scale_tril(self, kernel_results):
        """C in compact form (`None`, `[d]` or `[d, d]`) for `kernel_results`."""
        scale = self._preconditioner.forward(kernel_results.unconstrained_scale)
        return normalise_scale_tril(scale) if self._uses_dual_averaging else scale

    def adapted_kernel(self, kernel_results):
        """Returns the inner kernel with the (h, C) of `kernel_results` (for `sample_chain`)."""
        return self._rebuild(kernel_results.step_size, self.scale_tril(kernel_results))

    def _rebuild(self, step_size, scale_tril):
        parameters = dict(self.inner_kernel.parameters, step_size=step_size, scale_tril=scale_tril)
        return type(self.inner_kernel)(**parameters)

    def bootstrap_results(self, init_state):
        """Evaluates the target at `init_state` (one gradient) and sets up the warm-up."""
        with tf.name_scope(self._parameters["name"]):
            init_state = tf.convert_to_tensor(init_state)
            dtype = init_state.dtype
            num_dims = init_state.shape[-1]
            step_size = tf.convert_to_tensor(self.inner_kernel.step_size, dtype)
            scale = self.inner_kernel.scale_tril
            scale = None if scale is None else tf.convert_to_tensor(scale, dtype)
            unconstrained_scale = self._preconditioner.from_dense(
                _scale.to_dense(scale, num_dims, dtype)
            )
            variables = (tf.math.log(step_size), unconstrained_scale)
            zeros = tuple(tf.zeros_like(v) for v in variables)
            kernel = self._rebuild(step_size, self._preconditioner.forward(unconstrained_scale))
            inner_results = kernel.bootstrap_results(init_state)
            count = tf.zeros([], tf.int32)
            return SpeedMeasureAdaptationResults(
                inner_results=inner_results,
                step=count,
                step_size=step_size,
                unconstrained_step_size=variables[0],
                unconstrained_scale=unconstrained_scale,
                optimizer_state=AdamState(count, zeros, zeros),
                entropy_weight=tf.constant(self._parameters["entropy_weight"], dtype),
                dual_averaging=self._dual_averaging_start(step_size),
                log_shrinkage_target=tf.math.log(10.0 * step_size),
                accept_prob=tf.zeros([], dtype),
                entropy=tf.zeros([], dtype),
                num_excluded_chains=count,
                num_dropped_grads=count,
                num_nonfinite=count,
                num_divergences=count,
                num_backoffs=count,
                rejections_in_a_row=tf.zeros(tf.shape(init_state)[:1], tf.int32),
                num_restarts=count,
                covariance=empty_moments(self._parameters["estimate_covariance"], init_state),
                seed=tf.zeros([2], tf.int32),
            )

    @staticmethod
    def _dual_averaging_start(step_size):
        log_step_size = tf.math.log(step_size)
        zero = tf.zeros_like(log_step_size)
        return DualAveragingValues(log_step_size, log_step_size, zero, zero)

    def _searched(self, state, results, seed):
        """Results with h from `find_step_size` (and the rules restarted from it)."""
        kernel = self._rebuild(results.step_size, self.scale_tril(results))
        step_size = find_step_size(
            kernel,
            state,
            with_step_size(results.inner_results, results.step_size),
            target_accept_prob=self._parameters["target_accept_prob"],
            seed=seed,
        )
        return results._replace(
            step_size=step_size,
            unconstrained_step_size=tf.math.log(step_size),
            dual_averaging=self._dual_averaging_start(step_size),
            log_shrinkage_target=tf.math.log(step_size),
        )

    def one_step(self, current_state, previous_kernel_results, seed=None):
        """One transition; while `step < num_adaptation_steps` also one adaptation step."""
        with tf.name_scope(self._parameters["name"]):
            seed = tfp.random.sanitize_seed(seed)
            search_seed, kernel_seed, entropy_seed = split_seed(seed, 3, salt="adaptation")
            current_state = tf.convert_to_tensor(current_state)
            results = previous_kernel_results
            search_at = tf.equal(results.step, 0)
            for bound in self._covariance_windows[1:]:
                search_at |= tf.equal(results.step, bound)
            if self._parameters["search_step_size"] and self.num_adaptation_steps > 0:
                results = tf.cond(
                    search_at,
                    lambda: self._searched(current_state, results, search_seed),
                    lambda: results,
                )
            kernel = self._rebuild(results.step_size, self.scale_tril(results))
            previous_inner = with_step_size(results.inner_results, results.step_size)
            next_state, inner_results = kernel.one_step(
                current_state, previous_inner, seed=kernel_seed
            )
            accept_prob = mean_accept_prob(inner_results)
            nonfinite = inner_results.proposed_results.is_nonfinite
            divergent = nonfinite | (inner_results.log_accept_ratio < -MAX_ENERGY_ERROR)
            rejections = tf.where(inner_results.is_accepted, 0, results.rejections_in_a_row + 1)
            results = results._replace(
                inner_results=inner_results,
                step=results.step + 1,
                accept_prob=accept_prob,
                num_nonfinite=tf.reduce_sum(tf.cast(nonfinite, tf.int32)),
                num_divergences=tf.reduce_sum(tf.cast(divergent, tf.int32)),
                rejections_in_a_row=rejections,
                num_restarts=tf.zeros_like(results.num_restarts),
                seed=seed,
            )
            if self.num_adaptation_steps == 0:
                return next_state, results
            adapted = tf.cond(
                results.step <= self.num_adaptation_steps,
                lambda: self._adapt(current_state, previous_inner, results, entropy_seed),
                lambda: results,
            )
            if self._covariance_windows:
                adapted = self._pool_covariance(next_state, adapted)
            if self._parameters["restart_stuck_after"] == 0:
                return next_state, adapted
            return self._restart_stuck(next_state, adapted, seed)

    def _adapt(self, state, previous_inner, results, seed):
        """The updates after transition `results.step - 1` of the warm-up."""
        index = results.step - 1
        in_main = index < self._main_steps
        results = tf.cond(
            in_main,
            lambda: self._speed_measure_step(state, previous_inner, results, seed),
            lambda: results._replace(entropy=tf.zeros_like(results.entropy)),
        )
        results = self._step_size_step(results, in_main)
        return self._backoff(results)

    def _speed_measure_step(self, state, previous_inner, results, seed):
        """One Adam step on (log h, C) or C alone; the beta rule under `speed_measure`."""
        learns_step_size = not self._uses_dual_averaging
        identity = self._parameters["preconditioner"] == "identity"
        step_size = results.step_size

        def kernel_params(variables):
            log_step_size, unconstrained_scale = variables
            scale = self._preconditioner.forward(unconstrained_scale)
            if self._uses_dual_averaging:
                scale = normalise_scale_tril(scale)
            return (tf.exp(log_step_size) if learns_step_size else step_size), scale

        variables = [results.unconstrained_step_size, results.unconstrained_scale]
        gradients = speed_measure_gradients(
            self.inner_kernel.target_log_prob_fn,
            state,
            previous_inner,
            results.inner_results,
            variables,
            kernel_params,
            seed=seed,
            kernel=self.inner_kernel,
            entropy_weight=results.entropy_weight,
            gradient_mode=self._parameters["gradient_mode"],
            entropy_estimator=self._parameters["entropy_estimator"],
            estimator_options=self._parameters["estimator_options"],
        )
        grads = [-g for g in gradients.grads]  # ascent on F
        if not learns_step_size:
            grads[0] = tf.zeros_like(grads[0])
            # Only the direction of the shape's gradient matters; a transition whose
            # chains nearly all reject gives one orders of magnitude larger, which
            # inflates Adam's second moment and freezes C for hundreds of steps.
            grads[1] = tf.clip_by_norm(grads[1], SHAPE_GRAD_CLIP_NORM)
        if identity:
            grads[1] = tf.zeros_like(grads[1])
        new_variables, optimizer_state = _adam(
            results.optimizer_state, variables, grads, self._parameters["learning_rate"]
        )
        num_chains = tf.size(gradients.terms.is_nonfinite)
        dropped = ~gradients.is_finite | (gradients.num_excluded_chains >= num_chains)
        entropy_weight = results.entropy_weight
        if learns_step_size:
            entropy_weight = update_entropy_weight(
                entropy_weight,
                results.accept_prob,
                self._parameters["target_accept_prob"],
                self._parameters["entropy_weight_rate"],
            )
        return results._replace(
            unconstrained_step_size=new_variables[0],
            unconstrained_scale=new_variables[1],
            optimizer_state=optimizer_state,
            entropy_weight=entropy_weight,
            entropy=gradients.entropy,
            num_excluded_chains=gradients.num_excluded_chains,
            num_dropped_grads=tf.cast(dropped, tf.int32),
        )

    def _step_size_step(self, results, in_main):
        """Sets the h of the next transition (dual averaging, the paper's rule or h-bar)."""
        index = results.step - 1
        target = self._parameters["target_accept_prob"]
        dual_averaging = results.dual_averaging
        # Restart dual averaging at the first step of the final window.
        restart = tf.equal(index, self._main_steps)
        restarted = self._dual_averaging_start(results.step_size)
        dual_averaging = tf.nest.map_structure(
            lambda new, old: tf.where(restart, new, old), restarted, dual_averaging
        )
        mu = tf.where(restart, tf.math.log(results.step_size), results.log_shrinkage_target)
        uses_dual_averaging = ~in_main | self._uses_dual_averaging
        updated = dual_averaging_update(
            dual_averaging, results.accept_prob, target, mu, gamma=DUAL_AVERAGING_GAMMA
        )
        dual_averaging = tf.nest.map_structure(
            lambda new, old: tf.where(uses_dual_averaging, new, old), updated, dual_averaging
        )
        step_size = tf.where(
            uses_dual_averaging,
            tf.exp(dual_averaging.log_step_size),
            tf.exp(results.unconstrained_step_size),
        )
        # After the last warm-up step: h-bar where dual averaging had the last word.
        last = tf.equal(results.step, self.num_adaptation_steps)
        averaged_last = self._parameters["num_final_steps"] > 0 or self._uses_dual_averaging
        if averaged_last:
            step_size = tf.where(last, tf.exp(dual_averaging.log_averaged_step_size), step_size)
        return results._replace(
            step_size=step_size, dual_averaging=dual_averaging, log_shrinkage_target=mu
        )

    def _pool_covariance(self, state, results):
        """Pools `state` into the moments; sets C (and restarts them) at a window's end."""
        bounds = self._covariance_windows
        index = results.step - 1  # the transition that produced `state`
        in_window = (index >= bounds[0]) & (index < bounds[-1])
        grads = results.inner_results.accepted_results.grads_target_log_prob
        pooled = tf.cond(
            in_window,
            lambda: pooled_update(results.covariance, state, grads),
            lambda: results.covariance,
        )
        results = results._replace(covariance=pooled)
        window_end = tf.reduce_any(tf.equal(index, tf.constant(bounds[1:]) - 1))
        return tf.cond(
            window_end,
            lambda: self._set_scale_from_covariance(results),
            lambda: results,
        )

    def _set_scale_from_covariance(self, results):
        """C from the pooled precision estimate, Adam restarted."""
        dense = scale_from_moments(results.covariance)
        if self._parameters["preconditioner"] == "diag":
            dense = tf.linalg.diag(tf.linalg.norm(dense, axis=-1))
        unconstrained = self._preconditioner.from_dense(dense)
        usable = tf.reduce_all(tf.math.is_finite(unconstrained))
        unconstrained = tf.where(usable, unconstrained, results.unconstrained_scale)
        state = results.optimizer_state
        return results._replace(
            unconstrained_scale=unconstrained,
            covariance=tf.nest.map_structure(tf.zeros_like, results.covariance),
            optimizer_state=AdamState(
                tf.zeros_like(state.iterations),
                tuple(tf.zeros_like(m) for m in state.m),
                tuple(tf.zeros_like(v) for v in state.v),
            ),
        )

    def _restart_stuck(self, state, results, seed):
        """Moves each stuck chain to the state of a moving chain (first half of the warm-up).

        A chain is stuck after `restart_stuck_after` rejections in a row. Its new state is
        that of a chain drawn uniformly among the moving ones; the inner results are
        bootstrapped again at the new states (one gradient evaluation, only on the steps
        that restart a chain).
        """
        stuck = results.rejections_in_a_row >= self._parameters["restart_stuck_after"]
        in_time = results.step <= self.num_adaptation_steps // 2
        restart = in_time & tf.reduce_any(stuck) & ~tf.reduce_all(stuck)

        def restarted():
            (donor_seed,) = split_seed(seed, 1, salt="restart_stuck")
            logits = tf.where(stuck, -math.inf, 0.0)
            donors = tf.random.stateless_categorical(
                tf.broadcast_to(logits, [tf.size(stuck), tf.size(stuck)]),
                1,
                seed=donor_seed,
            )[:, 0]
            new_state = tf.where(stuck[:, None], tf.gather(state, donors), state)
            kernel = self._rebuild(results.step_size, self.scale_tril(results))
            inner = with_step_size(kernel.bootstrap_results(new_state), results.step_size)
            return new_state, results._replace(
                inner_results=inner,
                rejections_in_a_row=tf.where(stuck, 0, results.rejections_in_a_row),
                num_restarts=tf.reduce_sum(tf.cast(stuck, tf.int32)),
            )

        return tf.cond(restart, restarted, lambda: (state, results))

    def _backoff(self, results):
        """Halves h (and lowers dual averaging's mu) when nearly every chain rejected."""
        backoff = (results.accept_prob < self._parameters["backoff_accept_prob"]) & (
            results.step < self.num_adaptation_steps
        )
        log_two = tf.constant(math.log(2.0), results.step_size.dtype)
        shift = tf.where(backoff, log_two, tf.zeros_like(log_two))
        dual_averaging = results.dual_averaging._replace(
            log_step_size=results.dual_averaging.log_step_size - shift
        )
        return results._replace(
            step_size=results.step_size * tf.exp(-shift),
            unconstrained_step_size=results.unconstrained_step_size - shift,
            dual_averaging=dual_averaging,
            log_shrinkage_target=results.log_shrinkage_target - shift,
            num_backoffs=tf.cast(backoff, tf.int32),
        )
