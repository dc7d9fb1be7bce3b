"""MCMC refinement of posterior draws: the learned kernel a model composes with.

`MCMCRefinement` holds what the kernel learns and carries between training steps (the
`KernelParameters` (h, C), the entropy weight beta, the dual-averaging state) and runs K
transitions of MALA or HMC on any target `log p(x, z)`: adapting while training
(`adapt`) and never while evaluating (`sample`). Models take it as a component
(`VAE(..., refinement=MCMCRefinement(d))`) and hand it their `log_joint` and their encoder
draws (`model/mcmc_training.py`).
"""

import collections
import functools

import keras
import numpy as np
import tensorflow as tf

from tf_smvae import mcmc
from tf_smvae.util import replicas
from tf_smvae.util import seeds
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry

__all__ = ["ADAPTATIONS", "OPTIONS", "PRECONDITIONERS", "MCMCRefinement", "RefinementResults"]

ADAPTATIONS = Registry("adaptation")

PreconditionerSpec = collections.namedtuple("PreconditionerSpec", ["kernel", "amortised"])
PreconditionerSpec.__doc__ = """A preconditioner a refinement accepts.

Fields:
  kernel: the learned C's form in `mcmc.PRECONDITIONERS` (identity, diag, tril).
  amortised: whether the chains run in coordinates whitened by the encoder's
    posterior scales sigma(x), so that the effective C(x) = diag(sigma(x)) C.
"""

# Every kernel preconditioner as itself, and the amortised ones of DESIGN 4.1:
# C(x) = diag(sigma_phi(x)) diag(c) ("amortised") or diag(sigma_phi(x)) L ("amortised_tril").
PRECONDITIONERS = Registry("preconditioner")
for _name in mcmc.PRECONDITIONERS.names():
    PRECONDITIONERS.register(_name)(PreconditionerSpec(_name, False))
PRECONDITIONERS.register("amortised")(PreconditionerSpec("diag", True))
PRECONDITIONERS.register("amortised_tril")(PreconditionerSpec("tril", True))

RefinementResults = collections.namedtuple(
    "RefinementResults",
    ["final_state", "accept_prob", "num_nonfinite", "entropy", "kernel_grads", "dropped_grads"],
)
RefinementResults.__doc__ = """What one refinement of a batch of chains returns.

Fields:
  final_state: [B, d] chain states after K transitions.
  accept_prob: scalar mean acceptance probability over chains and transitions.
  num_nonfinite: int32, proposals rejected for a non-finite energy.
  entropy: scalar mean proposal entropy (0 when the adaptation does not compute it).
  kernel_grads: gradients of -sum_k F_k for `kernel_parameters.trainable_variables`
    (ready for a minimising optimizer), or None when nothing is learned by gradient.
  dropped_grads: int32, transitions whose non-finite kernel gradient was dropped.
"""


class _SpeedMeasure:
    """Learn (h, C) by gradient ascent on the speed measure (Algorithm 1).

    Each adaptation has three parts: `prepare` (state changes before the chains),
    `run` (the chains: stateless, so a replica may XLA-compile it) and `finish` (the
    replica all-reduces and the state updates after the chains).
    """

    learns_by_gradient = True
    identity_preconditioner = None  # any C

    @staticmethod
    def prepare(refinement):
        del refinement

    @staticmethod
    def run(refinement, target_log_prob_fn, state, seed):
        return mcmc.run_adaptive_chain(
            target_log_prob_fn,
            state,
            refinement.kernel_parameters,
            entropy_weight=tf.stop_gradient(refinement.entropy_weight.value),
            **refinement.chain_options(seed),
            **refinement.speed_measure_options(),
        )

    @staticmethod
    def finish(refinement, results):
        # Identical on every replica before the beta rule; gradients divided by R for
        # the kernel optimizer's summing all-reduce (identities on one device).
        accept_prob = replicas.all_reduce_mean(results.accept_prob)
        refinement.update_entropy_weight(accept_prob)
        grads = replicas.scale_for_sum([-g for g in results.grads])
        return RefinementResults(
            results.final_state,
            accept_prob,
            results.num_nonfinite,
            results.entropy,
            grads,
            results.num_nonfinite_grads,
        )

    @staticmethod
    def step_size(refinement, training):
        del training
        return refinement.kernel_parameters.step_size

    @staticmethod
    def start_at(refinement, step_size):
        refinement.kernel_parameters.assign(step_size=step_size)

    @staticmethod
    def scale_tril(refinement):
        return refinement.kernel_parameters.scale_tril


class _DualAveraging:
    """Adapt a scalar h by dual averaging; C stays the identity (the dsMALA/dsHMC rows).

    The same steps as `mcmc.run_dual_averaging_chain(training=True)`, split in three.
    """

    learns_by_gradient = False
    identity_preconditioner = True  # a scalar step size only

    @staticmethod
    def prepare(refinement):
        refinement.dual_averaging.begin_batch()

    @staticmethod
    def run(refinement, target_log_prob_fn, state, seed):
        step_size = refinement.dual_averaging.current_step_size(True)
        return mcmc.run_chain(
            target_log_prob_fn,
            state,
            tf.cast(step_size, state.dtype),
            None,
            **refinement.chain_options(seed),
        )

    @staticmethod
    def finish(refinement, results):
        refinement.dual_averaging.update(results.accept_prob)  # all-reduced inside
        return _plain_results(results)

    @staticmethod
    def step_size(refinement, training):
        return refinement.dual_averaging.current_step_size(training)

    @staticmethod
    def start_at(refinement, step_size):
        refinement.dual_averaging.restart_at(step_size)

    @staticmethod
    def scale_tril(refinement):
        del refinement


class _SpeedMeasureDualAveraging(_DualAveraging):
    """C's shape by the speed measure, its scale h by dual averaging towards a*.

    The kernel uses C normalised to a unit geometric-mean diagonal
    (`mcmc.normalise_scale_tril`), so that the speed measure's gradient (beta fixed at its
    initial value) learns only the shape of C, and h follows the acceptance target by
    dual averaging, as `mcmc.adapt_kernel` does for HMC. With L >= 2 the local-Gaussian
    entropy has a maximiser in h that does not move with beta, so the paper's beta rule
    cannot bring HMC's acceptance down to a* (DESIGN 4.4); this rule reaches a* by
    construction. The paper's rule stays available as `speed_measure`. `prepare`,
    `step_size` and `start_at` are dual averaging's.
    """

    learns_by_gradient = True
    identity_preconditioner = False  # C's shape is what the speed measure learns

    @staticmethod
    def run(refinement, target_log_prob_fn, state, seed):
        parameters = refinement.kernel_parameters
        step_size = tf.stop_gradient(refinement.dual_averaging.current_step_size(True))
        with tf.GradientTape() as tape:
            scale_tril = mcmc.normalise_scale_tril(parameters.scale_tril)
        results = mcmc.run_speed_measure_chain(
            target_log_prob_fn,
            state,
            tf.cast(step_size, state.dtype),
            scale_tril,
            entropy_weight=tf.stop_gradient(refinement.entropy_weight.value),
            **refinement.chain_options(seed),
            **refinement.speed_measure_options(),
        )
        scale_grad = tape.gradient(
            scale_tril, parameters.unconstrained_scale, output_gradients=results.grads[1]
        )
        # A transition whose chains nearly all reject has log-acceptance gradients orders
        # of magnitude above the others; one such step inflates Adam's second moment and
        # freezes C for hundreds of steps (BUILD_NOTES). The direction is what counts.
        scale_grad = tf.clip_by_norm(scale_grad, mcmc.SHAPE_GRAD_CLIP_NORM)
        # h is not learned by gradient: a zero gradient for its variable.
        grads = [
            scale_grad
            if variable is parameters.unconstrained_scale
            else tf.zeros(variable.shape, variable.dtype)
            for variable in parameters.trainable_variables
        ]
        return results._replace(grads=grads)

    @staticmethod
    def finish(refinement, results):
        refinement.dual_averaging.update(results.accept_prob)  # all-reduced inside
        grads = replicas.scale_for_sum([-g for g in results.grads])
        return RefinementResults(
            results.final_state,
            replicas.all_reduce_mean(results.accept_prob),
            results.num_nonfinite,
            results.entropy,
            grads,
            results.num_nonfinite_grads,
        )

    @staticmethod
    def scale_tril(refinement):
        return mcmc.normalise_scale_tril(refinement.kernel_parameters.scale_tril)


class _Fixed:
    """No adaptation: the initial h and C throughout (no warm start either)."""

    learns_by_gradient = False
    identity_preconditioner = None
    start_at = None

    @staticmethod
    def prepare(refinement):
        del refinement

    @staticmethod
    def run(refinement, target_log_prob_fn, state, seed):
        return refinement._sample(target_log_prob_fn, state, seed, None)  # coordinates set

    @staticmethod
    def finish(refinement, results):
        del refinement
        return results

    @staticmethod
    def step_size(refinement, training):
        del training
        return refinement.kernel_parameters.step_size

    @staticmethod
    def scale_tril(refinement):
        return refinement.kernel_parameters.scale_tril


ADAPTATIONS.register("speed_measure")(_SpeedMeasure)
ADAPTATIONS.register("speed_measure_dual_averaging")(_SpeedMeasureDualAveraging)
ADAPTATIONS.register("dual_averaging")(_DualAveraging)
ADAPTATIONS.register("none")(_Fixed)


# Bisection trials of the warm start's step-size search (h within 2^(1/64) of a*'s
# crossing for one transition).
WARM_START_BISECTIONS = 6


def _plain_results(results):
    zero = tf.zeros([], results.final_state.dtype)
    return RefinementResults(
        results.final_state, results.accept_prob, results.num_nonfinite, zero, None, 0
    )


# The keyword arguments of `MCMCRefinement` besides `latent_dim`: each also names the
# `config.kernel` field it comes from (the kernel's own name is `kernel.name`).
OPTIONS = (
    "kernel",
    "adaptation",
    "preconditioner",
    "num_steps",
    "num_leapfrog_steps",
    "init_step_size",
    "target_accept_prob",
    "entropy_weight",
    "entropy_weight_rate",
    "gradient_mode",
    "entropy_estimator",
    "restart_each_batch",
    "warm_start",
)


@keras.saving.register_keras_serializable(package="tf_smvae")
class MCMCRefinement(keras.layers.Layer):
    """A learned MALA/HMC kernel refining posterior draws z_0 into z_K.

    #### Examples

    ```python
    refinement = MCMCRefinement(latent_dim=10, kernel="hmc", num_leapfrog_steps=2)
    results = refinement.adapt(lambda z: model.log_joint(x, z), z0, seed)
    ```

    #### References

    [1] Hirt, M., Kreouzis, V. and Dellaportas, P. Learning variational autoencoders via
        MCMC speed measures. Statistics and Computing, 2024 (arXiv 2308.13731).
    [2] Hoffman, M. D. and Gelman, A. The No-U-Turn sampler. JMLR 15, 2014 (dual
        averaging).
    """

    def __init__(
        self,
        latent_dim,
        kernel="mala",
        adaptation="speed_measure",
        preconditioner="diag",
        num_steps=5,
        num_leapfrog_steps=1,
        init_step_size=0.1,
        target_accept_prob=None,
        entropy_weight=1.0,
        entropy_weight_rate=0.02,
        gradient_mode="stop_target_grads",
        entropy_estimator="auto",
        restart_each_batch=False,
        warm_start=True,
        **kwargs,
    ):
        """Creates the kernel's parameters and state.

        Args:
          latent_dim: d, the dimension of the chain state.
          kernel: "mala" or "hmc".
          adaptation: "speed_measure" (the paper's rule: h and C by the speed measure,
            beta by its rule), "speed_measure_dual_averaging" (C's shape by the speed
            measure, h by dual averaging, beta fixed), "dual_averaging" (h only, C = I)
            or "none" (see `ADAPTATIONS`).
          preconditioner: "identity", "diag", "tril", or the amortised "amortised"
            (C(x) = diag(sigma(x)) diag(c)) and "amortised_tril" (diag(sigma(x)) L),
            which need the encoder's posterior scales sigma(x) as `scale` (see
            `PRECONDITIONERS`; dual averaging: identity only).
          num_steps: K transitions per refinement (static).
          num_leapfrog_steps: L for HMC (static; 1 for MALA).
          init_step_size: h_0.
          target_accept_prob: a*; None takes the kernel's default (0.55 MALA, 0.65 HMC).
          entropy_weight: beta_0.
          entropy_weight_rate: rho_beta of the beta rule.
          gradient_mode: "stop_target_grads" or "full".
          entropy_estimator: "exact", "stochastic" or "auto" (HMC with L > 1).
          restart_each_batch: dual averaging restarts at h_0 every batch (the paper's
            code); off by default.
          warm_start: at the first adaptation (the switch to the MCMC phase), set C to
            the encoder's mean posterior scales (diag/tril) and h by `find_step_size` on
            that batch's chains, so adaptation starts near a* (see `warm_start`). Ignored
            by adaptation "none".
          **kwargs: `keras.layers.Layer` arguments.

        Raises:
          ConfigError: naming the bad argument.
        """
        super().__init__(**kwargs)
        spec = mcmc.KERNELS.get(kernel, field="kernel")
        ADAPTATIONS.get(adaptation, field="adaptation")
        mcmc.GRADIENT_MODES.get(gradient_mode, field="gradient_mode")
        mcmc.LOG_DET_ESTIMATORS.get(entropy_estimator, field="entropy_estimator")
        check_arguments(kernel, adaptation, preconditioner, num_steps, num_leapfrog_steps)
        self.latent_dim = int(latent_dim)
        self.kernel = kernel
        self.adaptation = adaptation
        self.preconditioner = preconditioner
        self.num_steps = int(num_steps)
        self.num_leapfrog_steps = int(num_leapfrog_steps) if kernel == "hmc" else 1
        self.init_step_size = float(init_step_size)
        self.target_accept_prob = float(target_accept_prob or spec.target_accept_prob)
        self.entropy_weight_init = float(entropy_weight)
        self.entropy_weight_rate = float(entropy_weight_rate)
        self.gradient_mode = gradient_mode
        self.entropy_estimator = entropy_estimator
        self.restart_each_batch = bool(restart_each_batch)
        self.warm_start_enabled = bool(warm_start) and ADAPTATIONS.get(adaptation).start_at
        preconditioner_spec = PRECONDITIONERS.get(preconditioner)
        self.amortised = preconditioner_spec.amortised
        self.kernel_parameters = mcmc.KernelParameters(
            self.latent_dim,
            preconditioner=preconditioner_spec.kernel,
            init_step_size=self.init_step_size,
        )
        self.dual_averaging = mcmc.DualAveragingState(
            init_step_size=self.init_step_size,
            target_accept_prob=self.target_accept_prob,
            restart_each_batch=self.restart_each_batch,
        )
        self.entropy_weight = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.entropy_weight_init),
            trainable=False,
            aggregation="only_first_replica",
            name="entropy_weight",
        )
        self.warm_started = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            name="warm_started",
        )
        self.built = True

    @property
    def _adaptation(self):
        return ADAPTATIONS.get(self.adaptation)

    @property
    def learns_by_gradient(self):
        """Whether `adapt` returns kernel gradients for a kernel optimizer."""
        return self._adaptation.learns_by_gradient

    def step_size(self, training=False):
        """h used for training (adapting) or evaluation (dual averaging: h-bar)."""
        return self._adaptation.step_size(self, training)

    def scale_tril(self):
        """The C the kernel uses, in compact form (`None` for dual averaging)."""
        return self._adaptation.scale_tril(self)

    def kernel_options(self):
        """The kernel's own static options, as `mcmc.make_kernel` takes them (HMC's L)."""
        return {"num_leapfrog_steps": self.num_leapfrog_steps} if self.kernel == "hmc" else {}

    def chain_options(self, seed):
        """Keyword arguments shared by every chain runner."""
        options = self.kernel_options()
        return dict(num_steps=self.num_steps, kernel=self.kernel, seed=seed, **options)

    def speed_measure_options(self):
        return dict(gradient_mode=self.gradient_mode, entropy_estimator=self.entropy_estimator)

    def update_entropy_weight(self, accept_prob):
        """The beta rule, once per training step."""
        self.entropy_weight.assign(
            mcmc.update_entropy_weight(
                self.entropy_weight.value,
                tf.cast(accept_prob, self.entropy_weight.dtype),
                self.target_accept_prob,
                self.entropy_weight_rate,
            )
        )

    def adapt(self, target_log_prob_fn, state, seed, scale=None):
        """K transitions from `state` while training; updates beta / dual averaging.

        Args:
          target_log_prob_fn: `[B, d] -> [B]`, the unnormalised log posterior.
          state: `[B, d]` initial states (held constant).
          seed: int32[2].
          scale: `[B, d]` (or `[d]`) encoder posterior scales; required by the amortised
            preconditioners, ignored by the others.

        Under a multi-replica strategy each replica runs its own chains (the replica id is
        folded into `seed`), the acceptance that updates beta or dual averaging is the mean
        over replicas, and `kernel_grads` are divided by the number of replicas (ready for
        a summing all-reduce).

        Returns:
          `RefinementResults`.
        """
        self.prepare_adaptation()
        results = self.run_adaptation(target_log_prob_fn, state, seed, scale=scale)
        return self.finish_adaptation(results)

    def _coordinates(self, target_log_prob_fn, state, scale):
        """The chains' coordinates: `(target_log_prob_fn, state, to_latent)`.

        Amortised: w = z / sigma(x) with the target w -> log p(x, sigma(x) w), so that
        the kernel's C acts as diag(sigma(x)) C on z (the Jacobian is constant in w and
        cancels in every acceptance ratio and in the kernel's gradients; logged entropies
        are then those of the whitened proposal). Otherwise z itself.
        """
        if not self.amortised:
            return target_log_prob_fn, state, lambda w: w
        if scale is None:
            raise ConfigError(
                f"preconditioner {self.preconditioner!r} needs the encoder's posterior "
                "scales: pass scale=[B, d] (SpeedMeasureVAE does)."
            )
        scale = tf.stop_gradient(tf.broadcast_to(tf.cast(scale, state.dtype), tf.shape(state)))
        return (lambda w: target_log_prob_fn(scale * w)), state / scale, lambda w: scale * w

    @property
    def warm_start_due(self):
        """Whether `warm_start` is enabled and has not run yet (read eagerly)."""
        return bool(self.warm_start_enabled) and int(self.warm_started.numpy()) == 0

    def warm_start(self, target_log_prob_fn, state, seed, scale_diag=None, scale=None):
        """A starting (h, C) for adaptation; callers run it once, where `warm_start_due`.

        C becomes diag(`scale_diag`) (e.g. the encoder's mean posterior scales; kept when
        None or for `identity`), then h is found by `mcmc.find_step_size` at a* (doubling
        or halving h until one transition's mean acceptance crosses a*, then bisecting):
        once from `state`, and again after K transitions with that h, from where the
        chains went (dual averaging restarts at the result). Under several replicas each
        runs the search on its chains and log h is averaged. `warm_started` records that
        it ran (it is saved with the layer, so a resumed run does not repeat it).
        Without it, a posterior narrowed by hundreds of ELBO epochs meets h_0 = 0.1 and
        C = I, and the first MCMC epoch runs at an acceptance of 0.3-0.5 (BUILD_NOTES).

        The search runs unconditionally: whether it is due is decided in Python when a
        train function is traced (`SpeedMeasureVAE.make_train_function`), because an
        all-reduce or a mirrored variable's assignment cannot sit inside `tf.cond` under
        a distribution strategy.

        Args:
          target_log_prob_fn: `[B, d] -> [B]`.
          state: `[B, d]` chain starts (e.g. encoder draws).
          seed: int32[2].
          scale_diag: optional `[d]` positive diagonal for C (not used by the amortised
            preconditioners, whose C starts at I on top of `scale`).
          scale: per-chain encoder scales, for the amortised preconditioners.

        Returns:
          The scalar h adaptation continues from.
        """
        if not self.warm_start_enabled:
            return tf.convert_to_tensor(self.step_size(training=True))
        target_log_prob_fn, state, _ = self._coordinates(target_log_prob_fn, state, scale)
        state = tf.stop_gradient(state)
        if self.amortised:
            scale_diag = None

        def find(step_size, start, search_seed):
            kernel = mcmc.make_kernel(
                self.kernel,
                target_log_prob_fn,
                tf.cast(step_size, state.dtype),
                _stop(self.scale_tril()),
                **self.kernel_options(),
            )
            found = mcmc.find_step_size(
                kernel,
                start,
                target_accept_prob=self.target_accept_prob,
                num_bisections=WARM_START_BISECTIONS,
                seed=search_seed,
            )
            return tf.exp(replicas.all_reduce_mean(tf.math.log(found)))

        if scale_diag is not None:
            self.kernel_parameters.assign(scale_diag=tf.stop_gradient(scale_diag))
        first_seed, chain_seed, second_seed = seeds.split_seed(
            replicas.fold_in_replica(seed), 3, "warm_start"
        )
        # A first search at the chain starts, K transitions with its h, then the search
        # again where the chains went: the K transitions of a training step mostly start
        # from such moved states, whose acceptance is lower.
        step_size = find(tf.stop_gradient(self.step_size(training=True)), state, first_seed)
        moved = mcmc.run_chain(
            target_log_prob_fn,
            state,
            tf.cast(step_size, state.dtype),
            _stop(self.scale_tril()),
            **self.chain_options(chain_seed),
        ).final_state
        step_size = find(step_size, tf.stop_gradient(moved), second_seed)
        self._adaptation.start_at(self, step_size)
        self.warm_started.assign(1)
        return tf.cast(step_size, tf.float32)

    def prepare_adaptation(self):
        """`adapt`'s state changes before the chains (dual averaging's restart)."""
        self._adaptation.prepare(self)

    def run_adaptation(self, target_log_prob_fn, state, seed, scale=None):
        """`adapt`'s chains: no state change and no cross-replica step (XLA-compilable).

        Returns:
          The chain runner's results, for `finish_adaptation`.
        """
        seed = replicas.fold_in_replica(seed)
        target_log_prob_fn, state, to_latent = self._coordinates(
            target_log_prob_fn, tf.stop_gradient(state), scale
        )
        results = self._adaptation.run(self, target_log_prob_fn, state, seed)
        return results._replace(final_state=to_latent(results.final_state))

    def finish_adaptation(self, results):
        """`adapt`'s all-reduces and state updates (beta, dual averaging) after the chains.

        Returns:
          `RefinementResults`.
        """
        return self._adaptation.finish(self, results)

    def sample(self, target_log_prob_fn, state, seed, num_steps=None, scale=None):
        """K (or `num_steps`) transitions with the learned kernel; adapts nothing.

        Args:
          target_log_prob_fn: `[B, d] -> [B]`.
          state: `[B, d]` initial states.
          seed: int32[2].
          num_steps: None (K), a Python int, or a scalar int tensor (then the chain runs
            one transition per loop iteration and reports only its final state).
          scale: per-chain encoder scales, for the amortised preconditioners.

        Returns:
          `RefinementResults` (no gradients).
        """
        target_log_prob_fn, state, to_latent = self._coordinates(
            target_log_prob_fn, tf.stop_gradient(state), scale
        )
        results = self._sample(target_log_prob_fn, state, seed, num_steps)
        return results._replace(final_state=to_latent(results.final_state))

    def _sample(self, target_log_prob_fn, state, seed, num_steps):
        run = functools.partial(
            mcmc.run_chain,
            target_log_prob_fn,
            step_size=tf.stop_gradient(self.step_size(training=False)),
            scale_tril=_stop(self.scale_tril()),
            kernel=self.kernel,
            **self.kernel_options(),
        )
        state = tf.stop_gradient(state)
        if num_steps is None or isinstance(num_steps, int):
            return _plain_results(run(state, num_steps=num_steps or self.num_steps, seed=seed))

        def body(i, current):
            step_seed = tf.random.experimental.stateless_fold_in(seed, i)
            return i + 1, run(current, num_steps=1, seed=step_seed).final_state

        _, final = tf.while_loop(lambda i, _: i < num_steps, body, (tf.constant(0), state))
        return _plain_results(mcmc.ChainResults(final, tf.zeros([], final.dtype), 0, 0))

    def diagnostics(self):
        """Scalars logged per training step."""
        return {
            "step_size": tf.convert_to_tensor(self.step_size(training=True)),
            "entropy_weight": self.entropy_weight.value,
            "log_det_scale": self.kernel_parameters.log_det_scale,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            kernel=self.kernel,
            adaptation=self.adaptation,
            preconditioner=self.preconditioner,
            num_steps=self.num_steps,
            num_leapfrog_steps=self.num_leapfrog_steps,
            init_step_size=self.init_step_size,
            target_accept_prob=self.target_accept_prob,
            entropy_weight=self.entropy_weight_init,
            entropy_weight_rate=self.entropy_weight_rate,
            gradient_mode=self.gradient_mode,
            entropy_estimator=self.entropy_estimator,
            restart_each_batch=self.restart_each_batch,
            warm_start=bool(self.warm_start_enabled),
        )
        return config


def _stop(tensor):
    return None if tensor is None else tf.stop_gradient(tensor)


def check_preconditioner(adaptation, preconditioner, prefix=""):
    """The one rule between an adaptation and a preconditioner.

    `dual_averaging` adapts a scalar h with C = identity; `speed_measure_dual_averaging`
    learns the shape of C, so C must not be the identity.

    Args:
      adaptation: a name in `ADAPTATIONS`.
      preconditioner: a name in `PRECONDITIONERS`.
      prefix: the fields' prefix in the error message ("kernel." for a config).

    Raises:
      ConfigError: naming the preconditioner field.
    """
    rule = ADAPTATIONS.get(adaptation, field=f"{prefix}adaptation").identity_preconditioner
    PRECONDITIONERS.get(preconditioner, field=f"{prefix}preconditioner")
    if rule is True and preconditioner != "identity":
        raise ConfigError(
            f"{prefix}preconditioner must be 'identity' with {prefix}adaptation="
            f"{adaptation!r} (got {preconditioner!r}): it adapts a scalar step size only."
        )
    if rule is False and preconditioner == "identity":
        raise ConfigError(
            f"{prefix}preconditioner must not be 'identity' with {prefix}adaptation="
            f"{adaptation!r}: it learns the shape of C (use diag, tril or an amortised one)."
        )


# The `OPTIONS` that `check_arguments` checks (config validation passes them by name).
CHECKED = ("kernel", "adaptation", "preconditioner", "num_steps", "num_leapfrog_steps")


def _check_positive_int(value, name, what, prefix):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        where = f"Config field '{prefix}{name}'" if prefix else f"{name} ({what})"
        raise ConfigError(f"{where} must be an integer >= 1, got {value!r}.")


def check_arguments(kernel, adaptation, preconditioner, num_steps, num_leapfrog_steps, prefix=""):
    """The range and cross-argument rules of the MCMC component, in one place: its
    constructor and config validation (`prefix="kernel."`) both call it.

    Args:
      kernel, adaptation, preconditioner, num_steps, num_leapfrog_steps: as
        `MCMCRefinement` takes them (L is checked for `hmc` only).
      prefix: the config section for the messages ("kernel."); "" names the argument.

    Raises:
      ConfigError: naming the argument or config field that breaks a rule.
    """
    check_preconditioner(adaptation, preconditioner, prefix=prefix)
    _check_positive_int(num_steps, "num_steps", "K", prefix)
    if kernel == "hmc":
        _check_positive_int(num_leapfrog_steps, "num_leapfrog_steps", "L", prefix)
