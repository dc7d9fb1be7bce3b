"""The VAE whose decoder learns from MCMC-refined posterior samples (Algorithm 1).

Phase 1 (epochs before `mcmc_start_epoch`): the plain ELBO. Phase 2, per batch x:
  1. z_0 = mu(x) + sigma(x) * eps;
  2. encoder loss -ELBO(x; z_0), gradient to the encoder only;
  3. K transitions of the learned kernel from sg(z_0), accumulating the speed-measure
     gradient for (h, C) and the acceptance;
  4. generative loss -[log p(x|sg(z_K)) + log p(sg(z_K))], gradient to decoder, likelihood
     and prior only;
  5. one step of the model optimizer, one of the kernel optimizer, the beta rule.
The phase switches inside one `fit` (the train function is rebuilt at the first MCMC
epoch, so each phase compiles on its own).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.model import vae as vae_lib
from tf_smvae.model.refinement import MCMCRefinement
from tf_smvae.util import replicas
from tf_smvae.util import seeds
from tf_smvae.util.errors import ConfigError

tfd = tfp.distributions

__all__ = ["SpeedMeasureVAE"]

EVAL_PROPOSALS = ("mean", "mixture")
_REFINEMENT_ARGS = (
    "kernel",
    "adaptation",
    "preconditioner",
    "num_mcmc_steps",
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
_MCMC_METRICS = (
    "generative_loss",
    "acceptance",
    "step_size",
    "entropy_weight",
    "log_det_scale",
    "entropy",
    "rejected_nonfinite",
    "dropped_kernel_grads",
    "squared_jump",
)
_COUNTS = ("rejected_nonfinite", "dropped_kernel_grads")
# Logged before the MCMC phase as NaN: they describe chains that have not run yet. (The
# counts log 0; step_size, entropy_weight and log_det_scale their current values.)
_CHAIN_METRICS = ("generative_loss", "acceptance", "entropy", "squared_jump")


class _MCMCPhase(keras.callbacks.Callback):
    """Switches a `SpeedMeasureVAE` into the MCMC phase at `mcmc_start_epoch`."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_mcmc_phase(epoch >= self.model.mcmc_start_epoch)

    def on_train_batch_end(self, batch, logs=None):
        if self.model._warm_start_traced:
            self.model.make_train_function()  # retraced without the warm start


@keras.saving.register_keras_serializable(package="tf_smvae")
class SpeedMeasureVAE(vae_lib.VAE):
    """VAE trained with posterior samples refined by an adaptive MALA/HMC kernel.

    #### Examples

    ```python
    model = tf_smvae.SpeedMeasureVAE(
        (28, 28, 1), 10, kernel="hmc", num_mcmc_steps=10, num_leapfrog_steps=2,
        preconditioner="tril", mcmc_start_epoch=90)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  kernel_optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    model.fit(train, epochs=100)  # 90 ELBO epochs, then 10 MCMC-coupled epochs
    ```

    #### References

    [1] Hirt, M., Kreouzis, V. and Dellaportas, P. Learning variational autoencoders via
        MCMC speed measures. Statistics and Computing, 2024 (arXiv 2308.13731),
        Algorithm 1.
    [2] Hoffman, M. D. Learning deep latent Gaussian models with Markov chain Monte
        Carlo. ICML 2017.
    """

    def __init__(
        self,
        image_shape,
        latent_dim,
        mcmc_start_epoch=0,
        num_eval_chains=16,
        eval_proposal="mean",
        refinement=None,
        **kwargs,
    ):
        """Builds the VAE and its kernel.

        Args:
          image_shape: (H, W, C) of one example.
          latent_dim: d.
          mcmc_start_epoch: epochs of plain-ELBO pre-training before the MCMC phase.
          num_eval_chains: M chains per example for the evaluation proposal.
          eval_proposal: "mean" (r = N(mean of the M chain ends, tau diag sigma^2)) or
            "mixture" (an equal-weight mixture centred at each chain end).
          refinement: an `MCMCRefinement` (or its serialised config); None builds one from
            the keyword arguments `kernel`, `adaptation`, `preconditioner`,
            `num_mcmc_steps`, `num_leapfrog_steps`, `init_step_size`,
            `target_accept_prob`, `entropy_weight`, `entropy_weight_rate`,
            `gradient_mode`, `entropy_estimator`, `restart_each_batch`, `warm_start`.
          **kwargs: `VAE` arguments.
        """
        options = {name: kwargs.pop(name) for name in _REFINEMENT_ARGS if name in kwargs}
        if "num_mcmc_steps" in options:
            options["num_steps"] = options.pop("num_mcmc_steps")
        super().__init__(image_shape, latent_dim, **kwargs)
        self.refinement = vae_lib._deserialize(refinement) or MCMCRefinement(
            self.latent_dim, **options
        )
        self.mcmc_start_epoch = vae_lib.check_int(mcmc_start_epoch, "mcmc_start_epoch", 0)
        self.num_eval_chains = vae_lib.check_int(num_eval_chains, "num_eval_chains", 1)
        if eval_proposal not in EVAL_PROPOSALS:
            raise ConfigError(
                f"eval_proposal must be one of {', '.join(EVAL_PROPOSALS)}, got {eval_proposal!r}."
            )
        self.eval_proposal = eval_proposal
        self.mcmc_phase = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            name="mcmc_phase",
        )
        self._mcmc_active = False
        self._warm_start_traced = False
        self.kernel_optimizer = None

    def _metric_names(self):
        return vae_lib._METRIC_NAMES + _MCMC_METRICS

    def _sum_metric_names(self):
        return _COUNTS

    def get_config(self):
        config = super().get_config()
        config.update(
            mcmc_start_epoch=self.mcmc_start_epoch,
            num_eval_chains=self.num_eval_chains,
            eval_proposal=self.eval_proposal,
            refinement=keras.saving.serialize_keras_object(self.refinement),
        )
        return config

    # -- optimizers ----------------------------------------------------------------------

    def compile(self, optimizer="adam", kernel_optimizer=None, **kwargs):
        """Compiles with a model optimizer and a kernel optimizer (default Adam(1e-3)).

        Args:
          optimizer: optimizer of the encoder, decoder, likelihood and prior.
          kernel_optimizer: optimizer of the step size and preconditioner.
          **kwargs: `keras.Model.compile` arguments (`jit_compile`, ...).
        """
        super().compile(optimizer=optimizer, **kwargs)
        self.optimizer.build(self.network_variables)
        self.kernel_optimizer = keras.optimizers.get(kernel_optimizer or "adam")
        self.kernel_optimizer.build(self.refinement.kernel_parameters.trainable_variables)

    def get_compile_config(self):
        config = super().get_compile_config()
        if self.kernel_optimizer is not None:
            config["kernel_optimizer"] = keras.saving.serialize_keras_object(self.kernel_optimizer)
        return config

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))

    @property
    def network_variables(self):
        kernel_ids = {id(v) for v in self.refinement.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in kernel_ids]

    # -- phases --------------------------------------------------------------------------

    def set_mcmc_phase(self, active):
        """Enters (or leaves) the MCMC phase; rebuilds the train function on a change."""
        active = bool(active)
        self.mcmc_phase.assign(int(active))
        if active != self._mcmc_active:
            self._mcmc_active = active
            if self.compiled:
                self.make_train_function(force=True)

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, switching to the MCMC phase at `mcmc_start_epoch`."""
        callbacks = [*(callbacks or []), _MCMCPhase()]
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def make_train_function(self, force=False):
        """Traces the kernel's warm start into the train function while it is due.

        The first MCMC step's function runs `MCMCRefinement.warm_start` unconditionally
        (no `tf.cond`, so it also runs under a distribution strategy); once it has run,
        the next call here (`fit` calls it after each batch) traces a function without
        it. With `steps_per_execution` N > 1 the search runs at each of the first N steps
        and the last one counts.
        """
        due = self._mcmc_active and self.refinement.warm_start_due
        if due != self._warm_start_traced:
            force = True
        self._warm_start_traced = due
        return super().make_train_function(force=force)

    def train_step(self, data):
        if not self._mcmc_active:
            return super().train_step(data)
        return self._mcmc_train_step(vae_lib._images(data))

    def _complete_train_logs(self, logs):
        """Every MCMC column from the first epoch on (Keras' History and CSVLogger fix their
        columns at the first epoch): NaN for the chain's values, 0 for its counts, the
        kernel's current step size, entropy weight and log-det scale."""
        logs = dict(logs)
        nan = tf.constant(float("nan"), tf.float32)
        logs.update({name: nan for name in _CHAIN_METRICS})
        logs.update({name: tf.zeros([], tf.float32) for name in _COUNTS})
        logs.update(self.refinement.diagnostics())
        return logs

    def _mcmc_train_step(self, x):
        step_seed = self.next_seed("mcmc_train_step")
        if self._warm_start_traced:
            self._warm_start_kernel(x, step_seed)
        self.refinement.prepare_adaptation()
        compute = self._replica_compiled(self._mcmc_gradients)
        network_grads, logs, raw_chain = compute(x, step_seed)
        chain = self.refinement.finish_adaptation(raw_chain)
        self.optimizer.apply(network_grads, self._mcmc_network_variables())
        if chain.kernel_grads is not None:
            self.kernel_optimizer.apply(
                chain.kernel_grads, self.refinement.kernel_parameters.trainable_variables
            )
        logs.update(
            acceptance=chain.accept_prob,
            entropy=chain.entropy,
            rejected_nonfinite=chain.num_nonfinite,
            dropped_kernel_grads=chain.dropped_grads,
            **self.refinement.diagnostics(),
        )
        return self._update_metrics(logs, x)

    def warm_start_kernel(self, x, seed=None):
        """Warm-starts a kernel that was never adapted (no MCMC epoch trained), once.

        A model trained by the ELBO only, or whose MCMC phase never started, would
        otherwise refine and build IS proposals with h_0 and C = I. The same search as
        at the switch to the MCMC phase (`MCMCRefinement.warm_start`) then runs on `x`;
        `refine` (eagerly) and `evaluation.log_likelihood` call it first. Run eagerly,
        outside a distribution strategy's replica context.

        Args:
          x: images [B, *image_shape].
          seed: int or int32[2]; None draws from the model's seed stream.

        Returns:
          Whether a warm start ran (False once adapted, or with `warm_start=False`).
        """
        if not self.refinement.warm_start_due:
            return False
        seed = self.next_seed("warm_start_kernel") if seed is None else seeds.as_seed(seed)
        x = tf.convert_to_tensor(x, self.compute_dtype)
        tf.function(self._warm_start_kernel, jit_compile=False)(x, seed)
        return True

    def _warm_start_kernel(self, x, step_seed):
        """At the first MCMC step: C from the encoder's mean posterior scales, h by the
        step-size search on this batch's encoder draws (`MCMCRefinement.warm_start`)."""
        draw_seed, search_seed = seeds.split_seed(step_seed, 2, "warm_start")
        _, scale = self.encode(x)
        start = self.sample_posterior(x, 1, draw_seed)[0]
        # Some encoders share their scales over the batch ([d] or [1, d]).
        log_scale = tf.math.log(tf.broadcast_to(scale, tf.shape(start)))
        scale_diag = tf.exp(replicas.all_reduce_mean(tf.reduce_mean(log_scale, 0)))
        self.refinement.warm_start(
            lambda z: self.log_joint(x, z),
            start,
            search_seed,
            scale_diag=scale_diag,
            scale=tf.stop_gradient(scale) if self.refinement.amortised else None,
        )

    def _chain_scale(self, x):
        """The encoder's posterior scales [B, d] for an amortised preconditioner, else None."""
        if not self.refinement.amortised:
            return None
        return tf.stop_gradient(self.encode(x)[1])

    def _mcmc_network_variables(self):
        """Encoder variables, then the generative ones (decoder, likelihood, prior)."""
        encoder_variables = self.encoder.trainable_variables
        encoder_ids = {id(v) for v in encoder_variables}
        generative = [v for v in self.network_variables if id(v) not in encoder_ids]
        return encoder_variables + generative

    def _mcmc_gradients(self, x, step_seed):
        """The stateless part of an MCMC step (XLA-compiled per replica if asked).

        Returns:
          (gradients for `_mcmc_network_variables()`, logs, the refinement's raw chain
          results for `finish_adaptation`).
        """
        elbo_seed, chain_seed = seeds.split_seed(step_seed, 2, "mcmc")
        encoder_variables = self.encoder.trainable_variables
        generative_variables = self._mcmc_network_variables()[len(encoder_variables) :]
        with tf.GradientTape() as tape:
            loss, logs, terms = self._elbo_loss(x, elbo_seed)
            scaled_loss = replicas.scale_for_sum(loss)  # summed over replicas
        encoder_grads = tape.gradient(scaled_loss, encoder_variables)
        start = tf.stop_gradient(terms["z"])
        chain = self.refinement.run_adaptation(
            lambda z: self.log_joint(x, z), start, chain_seed, scale=self._chain_scale(x)
        )
        with tf.GradientTape() as tape:
            generative_loss = -tf.reduce_mean(
                self.log_joint(x, tf.stop_gradient(chain.final_state))
            )
            scaled_generative_loss = replicas.scale_for_sum(generative_loss)
        generative_grads = tape.gradient(scaled_generative_loss, generative_variables)
        logs["generative_loss"] = generative_loss
        # ||z_K - z_0||^2 over the K transitions, mean over chains: how far the chains move
        # (0 when every proposal is rejected).
        jump = tf.reduce_sum(tf.square(tf.stop_gradient(chain.final_state) - start), -1)
        logs["squared_jump"] = tf.reduce_mean(tf.cast(jump, tf.float32))
        return encoder_grads + generative_grads, logs, chain

    # -- evaluation and sampling -----------------------------------------------------------

    def _chain_ends(self, x, num_chains, seed, num_steps=None):
        """M chains per example from encoder draws: returns (ends [M, B, d], scale [B, d])."""
        init_seed, chain_seed = seeds.split_seed(seed, 2, salt="chain_ends")
        _, scale = self.encode(x)
        start = tf.reshape(self.sample_posterior(x, num_chains, init_seed), [-1, self.latent_dim])
        tiled = tf.reshape(
            tf.repeat(x[tf.newaxis], num_chains, axis=0),
            tf.concat([[-1], tf.shape(x)[1:]], 0),
        )
        chain_scale = None
        if self.refinement.amortised:  # start is [M * B, d], M copies of the batch
            chain_scale = tf.tile(
                tf.broadcast_to(scale, tf.shape(start[: tf.shape(x)[0]])), [num_chains, 1]
            )
        results = self.refinement.sample(
            lambda z: self.log_joint(tiled, z),
            start,
            chain_seed,
            num_steps=num_steps,
            scale=chain_scale,
        )
        ends = tf.reshape(results.final_state, [num_chains, -1, self.latent_dim])
        return ends, scale

    def importance_proposal(self, x, tau, seed=None):
        """r(z|x) centred on M refined chains (DESIGN section 6); adapts nothing.

        The chains run before any particle is drawn, so the estimator stays unbiased
        given them.
        """
        ends, scale = self._chain_ends(x, self.num_eval_chains, seed)
        scale = scale * tf.sqrt(tf.cast(tau, scale.dtype))
        if self.eval_proposal == "mixture":
            components = tfd.MultivariateNormalDiag(
                loc=tf.transpose(ends, [1, 0, 2]), scale_diag=scale[:, tf.newaxis, :]
            )
            num_chains, batch = tf.shape(ends)[0], tf.shape(ends)[1]
            weights = tfd.Categorical(logits=tf.zeros([batch, num_chains], scale.dtype))
            return tfd.MixtureSameFamily(weights, components)
        return tfd.MultivariateNormalDiag(loc=tf.reduce_mean(ends, 0), scale_diag=scale)

    def refine(self, x, num_steps=None, seed=None):
        """MCMC-refined posterior samples: one chain per example from an encoder draw.

        Args:
          x: images [B, *image_shape].
          num_steps: transitions (default: the training K).
          seed: int or int32[2] seed; None draws the next seed of the model's stream.

        Returns:
          [B, d] latent samples after `num_steps` transitions of the learned kernel.
        """
        # Always the tensor-count path, so eager calls and the SavedModel endpoint (which
        # takes num_steps as a tensor) draw the same random stream.
        if num_steps is None:
            num_steps = self.refinement.num_steps
        num_steps = tf.convert_to_tensor(num_steps, tf.int32)
        if tf.executing_eagerly():
            self.warm_start_kernel(x)
        seed = self.next_seed("refine") if seed is None else seeds.as_seed(seed)
        ends, _ = self._chain_ends(x, 1, seed, num_steps=num_steps)
        return ends[0]
