"""The variational autoencoder trained by the evidence lower bound.

`VAE` is the base every other model of the library extends: it owns the encoder
q(z|x) = N(mu(x), diag sigma(x)^2), the decoder, the likelihood p(x|z) and the prior
p(z), the ELBO train and test steps, and the pieces the importance-sampling
evaluation reuses (`log_joint`, `importance_proposal`).

MCMC is a component: a model given `refinement=MCMCRefinement(d, ...)` trains by
Algorithm 1 from `mcmc_start_epoch` on, refines posterior samples and evaluates with
chains (`model/mcmc_training.py`); without one it is the plain VAE.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae import nn
from tf_smvae.data import checks as data_checks
from tf_smvae.model import likelihoods
from tf_smvae.model import mcmc_training
from tf_smvae.model import priors
from tf_smvae.model import step_metrics
from tf_smvae.util import replicas
from tf_smvae.util import seeds
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

tfd = tfp.distributions

__all__ = ["VAE"]

_METRIC_NAMES = ("loss", "elbo", "reconstruction", "kl")


def _serialize(component):
    """Config entry for a component given by registry name or as a Keras object."""
    if isinstance(component, str):
        return component
    return keras.saving.serialize_keras_object(component)


def _deserialize(component):
    if isinstance(component, dict):
        return keras.saving.deserialize_keras_object(component)
    return component


def check_int(value, name, minimum):
    """Returns `value` as an int, or raises ConfigError naming `name` (bools and floats too)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _images(data):
    """The images of a batch that may also carry labels or sample weights."""
    if isinstance(data, (tuple, list)):
        return data[0]
    return data


@keras.saving.register_keras_serializable(package="tf_smvae")
class VAE(keras.Model):
    """Variational autoencoder with pluggable networks, likelihood and prior.

    The ELBO for one example is
    `E_q[log p(x|z)] - KL(q(z|x) || p(z))`, with the KL in closed form when the
    prior is standard normal (and `analytic_kl`), else the one-sample estimate
    `log q(z|x) - log p(z)` at the reparameterised draw `z = mu + sigma * eps`.

    #### Examples

    ```python
    model = tf_smvae.VAE(image_shape=(28, 28, 1), latent_dim=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    model.fit(tf_smvae.data.load("fashion_mnist", "train"), epochs=10)
    images = model.sample(64, seed=1)
    ```

    #### References

    [1] Kingma, D. P. and Welling, M. Auto-encoding variational Bayes. ICLR 2014.
    [2] Rezende, D. J., Mohamed, S. and Wierstra, D. Stochastic backpropagation and
        approximate inference in deep generative models. ICML 2014.
    """

    def __init__(
        self,
        image_shape,
        latent_dim,
        network="mlp",
        likelihood="bernoulli",
        prior="standard_normal",
        network_kwargs=None,
        likelihood_kwargs=None,
        prior_kwargs=None,
        encoder=None,
        decoder=None,
        analytic_kl=True,
        scale_fn="softplus",
        seed=0,
        refinement=None,
        mcmc_start_epoch=0,
        num_eval_chains=16,
        eval_proposal="mean",
        **kwargs,
    ):
        """Builds the model and all its weights.

        Args:
          image_shape: (height, width, channels) of one example.
          latent_dim: dimension d of z.
          network: registered network name ("mlp", "conv") for encoder and decoder.
          likelihood: registered likelihood name or a likelihood layer.
          prior: registered prior name or a prior layer.
          network_kwargs: extra constructor arguments of the encoder and decoder.
          likelihood_kwargs: extra constructor arguments of a named likelihood.
          prior_kwargs: extra constructor arguments of a named prior.
          encoder: optional encoder layer replacing the named network's encoder;
            `encoder(x)` must return `(loc, scale)`, each [B, d].
          decoder: optional decoder layer replacing the named network's decoder;
            `decoder(z)` must return likelihood parameters [N, *image_shape, P].
          analytic_kl: use the closed-form KL when the prior has one.
          scale_fn: how the named encoder makes sigma(x): "softplus" or "exp"
            (sigma = exp(0.5 * logvar)).
          seed: Python int; the base of the model's stateless random stream.
          refinement: the MCMC component: an `MCMCRefinement` over the d latents (or its
            serialised config, or a callable `d -> MCMCRefinement`); None trains by the
            ELBO alone and has no kernel.
          mcmc_start_epoch: with a refinement, epochs of plain-ELBO training before the
            MCMC phase (Algorithm 1).
          num_eval_chains: with a refinement, M chains per example for the importance
            proposal.
          eval_proposal: with a refinement, "mean" (r = N(mean of the M chain ends,
            tau diag sigma^2)) or "mixture" (an equal-weight mixture centred at each
            chain end).
          **kwargs: passed to `keras.Model`.

        Raises:
          ConfigError: for a bad size, component name or MCMC argument.
        """
        super().__init__(**kwargs)
        self._with_refinement = refinement is not None
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = check_int(latent_dim, "latent_dim", 1)
        self._network = network
        self._network_kwargs = dict(network_kwargs or {})
        self._likelihood_kwargs = dict(likelihood_kwargs or {})
        self._prior_kwargs = dict(prior_kwargs or {})
        self.analytic_kl = bool(analytic_kl)
        self.scale_fn = scale_fn
        self.seed = int(seed)
        self.likelihood = self._make_likelihood(_deserialize(likelihood))
        self.prior = self._make_prior(_deserialize(prior))
        self.encoder = _deserialize(encoder) or self._make_encoder()
        self.decoder = _deserialize(decoder) or self._make_decoder()
        self._custom = {"encoder": encoder is not None, "decoder": decoder is not None}
        self._seed_state = self.add_weight(
            shape=(2,),
            dtype="int32",
            initializer=keras.initializers.Constant(np.array([self.seed, 0], np.int32)),
            trainable=False,
            aggregation="only_first_replica",
            name="seed_state",
        )
        self._step_metrics = step_metrics.StepMetrics(
            self._metric_names(), sum_names=self._sum_metric_names()
        )
        self._metric_views = self._step_metrics.views()
        self._eval_batches = step_metrics.BatchCounter(name="eval_batches")
        self._build_weights()
        self.kernel_optimizer = None
        self._mcmc_active = False
        self._warm_start_traced = False
        self.refinement = None
        if self._with_refinement:
            self._add_refinement(refinement, mcmc_start_epoch, num_eval_chains, eval_proposal)

    def _add_refinement(self, refinement, mcmc_start_epoch, num_eval_chains, eval_proposal):
        """The MCMC component and its settings, built after the networks."""
        if callable(refinement) and not isinstance(refinement, keras.layers.Layer):
            refinement = refinement(self.latent_dim)
        self.refinement = _deserialize(refinement)
        self.mcmc_start_epoch = check_int(mcmc_start_epoch, "mcmc_start_epoch", 0)
        self.num_eval_chains = check_int(num_eval_chains, "num_eval_chains", 1)
        if eval_proposal not in mcmc_training.EVAL_PROPOSALS:
            raise ConfigError(
                f"eval_proposal must be one of {', '.join(mcmc_training.EVAL_PROPOSALS)}, "
                f"got {eval_proposal!r}."
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

    # -- construction ------------------------------------------------------------------

    def _make_likelihood(self, likelihood):
        if isinstance(likelihood, str):
            return likelihoods.make_likelihood(
                likelihood, self.image_shape, **self._likelihood_kwargs
            )
        return likelihood

    def _make_prior(self, prior):
        if isinstance(prior, str):
            return priors.make_prior(prior, self.latent_dim, self.image_shape, **self._prior_kwargs)
        return prior

    def _make_encoder(self):
        """The named network's encoder; models with other inference networks override it."""
        return nn.make_encoder(
            self._network,
            self.image_shape,
            self.latent_dim,
            scale_fn=self.scale_fn,
            **self._network_kwargs,
        )

    def _make_decoder(self):
        """The named network's decoder; models with other generative networks override it."""
        return nn.make_decoder(
            self._network,
            self.image_shape,
            self.latent_dim,
            self.likelihood.num_params,
            **self._network_kwargs,
        )

    def _build_weights(self):
        """Runs every sub-layer once so that all weights exist before training or loading."""
        x = tf.zeros((1,) + self.image_shape)
        loc, _ = self.encoder(x)
        self.likelihood.log_prob(self.decoder(loc), x)
        self.prior_distribution().log_prob(loc)
        self.built = True

    def _metric_names(self):
        if self._with_refinement:
            return _METRIC_NAMES + mcmc_training.MCMC_METRICS
        return _METRIC_NAMES

    def _sum_metric_names(self):
        """The logged names that are summed over an epoch (counts), not averaged."""
        return mcmc_training.COUNTS if self._with_refinement else ()

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=self.image_shape,
            latent_dim=self.latent_dim,
            network=self._network,
            likelihood=_serialize(self.likelihood),
            prior=_serialize(self.prior),
            network_kwargs=self._network_kwargs,
            analytic_kl=self.analytic_kl,
            scale_fn=self.scale_fn,
            seed=self.seed,
        )
        for name, custom in self._custom.items():
            if custom:
                config[name] = _serialize(getattr(self, name))
        if self.refinement is not None:
            config.update(
                mcmc_start_epoch=self.mcmc_start_epoch,
                num_eval_chains=self.num_eval_chains,
                eval_proposal=self.eval_proposal,
                refinement=keras.saving.serialize_keras_object(self.refinement),
            )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- randomness --------------------------------------------------------------------

    def next_seed(self, salt):
        """Returns a fresh int32[2] seed and advances the model's seed counter.

        The counter is a model variable, so it is checkpointed and a resumed run
        continues the same random stream. Under a strategy every replica gets the same
        seed (consumers fold the replica id in where they need distinct streams).

        Args:
          salt: string naming the consumer.

        Returns:
          int32 tensor of shape [2].
        """
        state = self._seed_state.value
        self._seed_state.assign(state + tf.constant([0, 1], tf.int32))
        return seeds.split_seed(state, n=1, salt=salt)[0]

    # -- the model's distributions -----------------------------------------------------

    def encode(self, x):
        """Returns the encoder's `(loc, scale)`, each [B, d]."""
        return self.encoder(tf.convert_to_tensor(x, self.compute_dtype))

    def posterior(self, x):
        """The amortised posterior q(z|x) as a tfd distribution, batch [B], event [d]."""
        loc, scale = self.encode(x)
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)

    def sample_posterior(self, x, num_samples, seed):
        """Reparameterised draws z ~ q(z|x), e.g. the starting states of MCMC chains.

        Args:
          x: images [B, *image_shape].
          num_samples: draws per example (int or scalar int tensor).
          seed: int32[2] seed.

        Returns:
          [num_samples, B, d].
        """
        loc, scale = self.encode(x)
        noise = tf.random.stateless_normal(
            tf.concat([[num_samples], tf.shape(loc)], 0), seed=seed, dtype=loc.dtype
        )
        return loc + scale * noise

    def prior_distribution(self):
        """The prior p(z) as a tfd distribution with event shape [d]."""
        return self.prior.distribution(encoder=self.encoder)

    def decoder_params(self, z):
        """Likelihood parameters for latents z of shape [..., d] -> [..., *image_shape, P]."""
        z = tf.convert_to_tensor(z, self.compute_dtype)
        batch_shape = tf.shape(z)[:-1]
        params = self.decoder(tf.reshape(z, [-1, self.latent_dim]))
        return tf.reshape(params, tf.concat([batch_shape, tf.shape(params)[1:]], axis=0))

    def log_likelihood_given_latent(self, x, z):
        """log p(x|z) for z [..., B, d] and x [B, *image_shape] -> [..., B]."""
        return self.likelihood.log_prob(self.decoder_params(z), x)

    def log_joint(self, x, z):
        """log p(x|z) + log p(z), the MCMC target for z [..., B, d] -> [..., B]."""
        return self.log_likelihood_given_latent(x, z) + self.prior_distribution().log_prob(z)

    def importance_proposal(self, x, tau, seed=None):
        """The importance-sampling proposal r(z|x) used by `evaluation.log_likelihood`.

        Without a refinement, `encoder_proposal`: r = N(mu(x), tau * diag(sigma(x)^2)).
        With one, r is centred on M refined chains from encoder draws (DESIGN section 6;
        `eval_proposal`), which adapt nothing; the chains run before any particle is
        drawn, so the estimator stays unbiased given them.

        Args:
          x: images [B, *image_shape].
          tau: variance inflation factor (> 0).
          seed: int32[2] seed of the chains (unused without a refinement).

        Returns:
          A tfd distribution with batch shape [B] and event shape [d].
        """
        if self.refinement is not None:
            return mcmc_training.importance_proposal(self, x, tau, seed)
        return self.encoder_proposal(x, tau)

    def encoder_proposal(self, x, tau):
        """q(z|x) with its variance multiplied by `tau`: N(mu(x), tau * diag(sigma(x)^2))."""
        loc, scale = self.encode(x)
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale * tf.sqrt(tau))

    def warm_start_kernel(self, x, seed=None):
        """Warm-starts the model's MCMC kernel on images `x` if it was never adapted, once.

        A model trained by the ELBO only, or whose MCMC phase never started, would
        otherwise refine and build IS proposals with h_0 and C = I. The same search as
        at the switch to the MCMC phase (`MCMCRefinement.warm_start`) then runs on `x`;
        `refine` (eagerly) and `evaluation.log_likelihood` call it first. Run eagerly,
        outside a distribution strategy's replica context.

        Args:
          x: images [B, *image_shape].
          seed: int or int32[2]; None draws from the model's seed stream.

        Returns:
          Whether a warm start ran (False without a refinement, once adapted, or with
          `warm_start=False`).
        """
        if self.refinement is None:
            return False
        return mcmc_training.warm_start_kernel(self, x, seed)

    def refine(self, x, num_steps=None, seed=None):
        """MCMC-refined posterior samples: one chain per example from an encoder draw.

        Args:
          x: images [B, *image_shape].
          num_steps: transitions (default: the training K).
          seed: int or int32[2] seed; None draws the next seed of the model's stream.

        Returns:
          [B, d] latent samples after `num_steps` transitions of the learned kernel.

        Raises:
          ConfigError: for a model without a refinement.
        """
        if self.refinement is None:
            raise ConfigError("refine: this model has no MCMC refinement (refinement=None).")
        return mcmc_training.refine(self, x, num_steps, seed)

    # -- public conveniences ------------------------------------------------------------

    def decode(self, z):
        """The likelihood's mean image for latents z [N, d] -> [N, *image_shape]."""
        return self.likelihood.mean(self.decoder_params(z))

    def reconstruct(self, x):
        """Decodes the posterior mean of each image: [B, *image_shape]."""
        loc, _ = self.encode(x)
        return self.decode(loc)

    def sample(self, num, seed=None):
        """Mean images decoded from `num` prior draws.

        Args:
          num: number of images (int or scalar int tensor).
          seed: int or int32[2] seed; None draws the next seed of the model's own stream
            (`next_seed`), so repeated calls give new images and a restored model
            continues its stream.

        Returns:
          float tensor [num, *image_shape] in data space.
        """
        seed = self.next_seed("sample") if seed is None else seeds.as_seed(seed)
        z = self.prior_distribution().sample(num, seed=seed)
        return self.decode(z)

    def call(self, x, training=False):
        return self.reconstruct(x)

    # -- training ------------------------------------------------------------------------

    def elbo_terms(self, x, seed):
        """Per-example reconstruction and KL terms of the ELBO at one reparameterised draw.

        Args:
          x: images [B, *image_shape].
          seed: int32[2] seed of the draw.

        Returns:
          dict with `z` [B, d], `reconstruction` [B] (log p(x|z)), `kl` [B] and
          `encoder_scale` [B, d] (sigma(x), which `encode` returns too).
        """
        loc, scale = self.encode(x)
        # Indexed by the example's place in the global batch: R replicas draw together
        # exactly the single-device noise.
        noise = replicas.batch_normal(tf.shape(loc), seed, loc.dtype)
        z = loc + scale * noise
        reconstruction = self.log_likelihood_given_latent(x, z)
        if self.analytic_kl and self.prior.has_analytic_kl:
            kl = self.prior.kl_divergence(loc, scale)
        else:
            posterior = tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)
            kl = posterior.log_prob(z) - self.prior_distribution().log_prob(z)
        return {"z": z, "reconstruction": reconstruction, "kl": kl, "encoder_scale": scale}

    @property
    def network_variables(self):
        """The trainable variables the model optimizer updates (encoder, decoder, prior,
        likelihood): all but the refinement's, which the kernel optimizer owns."""
        if self.refinement is None:
            return self.trainable_variables
        kernel_ids = {id(v) for v in self.refinement.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in kernel_ids]

    # -- optimizers and phases -----------------------------------------------------------

    def compile(self, optimizer="adam", kernel_optimizer=None, **kwargs):
        """Compiles with a model optimizer and, with a refinement, a kernel optimizer.

        Args:
          optimizer: optimizer of the encoder, decoder, likelihood and prior.
          kernel_optimizer: optimizer of the step size and preconditioner (default
            Adam(1e-3)); only for a model with a refinement.
          **kwargs: `keras.Model.compile` arguments (`jit_compile`, ...).

        Raises:
          ConfigError: for a kernel optimizer given to a model without a refinement.
        """
        if self.refinement is None:
            if kernel_optimizer is not None:
                raise ConfigError(
                    "compile(kernel_optimizer): this model has no MCMC refinement to adapt."
                )
            return super().compile(optimizer=optimizer, **kwargs)
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
        """Compiles a loaded model as it was saved (Keras skips a custom `compile`)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.refinement is None and self.built:
            self.optimizer.build(self.trainable_variables)  # as Keras' own does

    def set_mcmc_phase(self, active):
        """Enters (or leaves) the MCMC phase; rebuilds the train function on a change.

        Raises:
          ConfigError: for a model without a refinement.
        """
        if self.refinement is None:
            raise ConfigError("set_mcmc_phase: this model has no MCMC refinement.")
        active = bool(active)
        self.mcmc_phase.assign(int(active))
        if active != self._mcmc_active:
            self._mcmc_active = active
            if self.compiled:
                self.make_train_function(force=True)

    def _elbo_loss(self, x, seed):
        """The ELBO loss, its logged terms (batch means) and the terms themselves."""
        terms = self.elbo_terms(x, seed)
        reconstruction = tf.reduce_mean(terms["reconstruction"])
        kl = tf.reduce_mean(terms["kl"])
        loss = kl - reconstruction
        if self.losses:
            loss += tf.add_n(self.losses)
        logs = {"loss": loss, "elbo": reconstruction - kl, "reconstruction": reconstruction}
        logs["kl"] = kl
        return loss, logs, terms

    def _resolve_replica_jit(self):
        """Moves XLA from the whole step to each replica's step under several replicas.

        Keras cannot XLA-compile the whole distributed step of a MirroredStrategy with
        several devices (one XLA cluster would read every replica's variables), so with
        `jit_compile=True` and more than one replica the step's stateless computation is
        compiled on each replica instead (`replica_jit_compile`), and the all-reduces,
        optimizer updates and state assignments around it run uncompiled.
        """
        if self.jit_compile and self.distribute_strategy.num_replicas_in_sync > 1:
            self.replica_jit_compile = True
            self.jit_compile = False

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """`keras.Model.fit`, after checking arrays and datasets against the likelihood.

        A VAE learns from images alone. Accepted forms of `x` (and of `validation_data`):
        an array of images [N, *image_shape]; a `tf.data.Dataset` (or generator) of image
        batches, or of `(images, ...)` tuples whose other elements (labels, as in tfds'
        `as_supervised`) are ignored. `validation_data` may also be a tuple `(images,)`.
        `y` must be left out. A dataset's own order is used: `shuffle` defaults to False
        for a `tf.data.Dataset` (Keras ignores it there, with a warning; shuffle in the
        pipeline, as `tf_smvae.data.load` does).

        Raises:
          DataError: naming `fit(y)` when targets are given, or `fit(x)` or
            `fit(validation_data)` for data the model cannot score (NaN/inf, wrong shape
            or dtype, values outside the likelihood's range).
        """
        if y is not None:
            raise DataError(
                "fit(y): a VAE learns from images alone and has no targets; call fit(x) "
                "(labels in a dataset of (images, labels) tuples are ignored)."
            )
        data_checks.check_model_input(self, x, "fit(x)")
        data_checks.check_model_input(self, validation_data, "fit(validation_data)")
        validation_data = self._evenly_split(validation_data)
        if isinstance(x, tf.data.Dataset) and "shuffle" not in kwargs and len(args) <= 5:
            kwargs["shuffle"] = False
        if self.refinement is not None:  # switches to the MCMC phase at mcmc_start_epoch
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), mcmc_training.MCMCPhase()]
        return super().fit(x, None, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        """`keras.Model.evaluate`, after the same checks as `fit` (naming `evaluate(x)`).

        Batch i of every call draws the same noise (`test_seed`); `fit`'s validation
        runs through here too.

        Under several replicas a `tf.data.Dataset` is passed through
        `replicas.split_batches_evenly` (Keras cannot evaluate uneven replica batches).
        """
        data_checks.check_model_input(self, x, "evaluate(x)")
        self._eval_batches.reset_state()
        return super().evaluate(self._evenly_split(x), *args, **kwargs)

    def _evenly_split(self, data):
        if isinstance(data, tf.data.Dataset):  # identity for one replica
            count = self.distribute_strategy.num_replicas_in_sync
            return replicas.split_batches_evenly(data, count)
        return data

    def make_train_function(self, force=False):
        """Also traces the kernel's warm start into the train function while it is due.

        The first MCMC step's function runs `MCMCRefinement.warm_start` unconditionally
        (no `tf.cond`, so it also runs under a distribution strategy); once it has run,
        the next call here (`fit` calls it after each batch) traces a function without
        it. With `steps_per_execution` N > 1 the search runs at each of the first N steps
        and the last one counts.
        """
        if self.refinement is not None:
            due = self._mcmc_active and self.refinement.warm_start_due
            if due != self._warm_start_traced:
                force = True
            self._warm_start_traced = due
        self._resolve_replica_jit()
        return super().make_train_function(force=force)

    def make_test_function(self, force=False):
        self._resolve_replica_jit()
        return super().make_test_function(force=force)

    def _replica_compiled(self, fn):
        """`fn` XLA-compiled per replica when `replica_jit_compile`, else `fn` itself."""
        if getattr(self, "replica_jit_compile", False) and replicas.num_replicas() > 1:
            return tf.function(fn, jit_compile=True)
        return fn

    def _elbo_gradients(self, x, seed):
        """Gradients of the ELBO loss for `network_variables` and the logged terms."""
        with tf.GradientTape() as tape:
            loss, logs, _ = self._elbo_loss(x, seed)
            # The optimizer sums gradients over replicas: divide by R so the sum is the
            # gradient of the global-batch mean (identity on one device).
            scaled_loss = replicas.scale_for_sum(loss)
        return tape.gradient(scaled_loss, self.network_variables), logs

    def train_step(self, data):
        x = _images(data)
        if self._mcmc_active:
            return mcmc_training.train_step(self, x)
        seed = self.next_seed("train_step")
        gradients, logs = self._replica_compiled(self._elbo_gradients)(x, seed)
        self.optimizer.apply(gradients, self.network_variables)
        return self._update_metrics(self._complete_train_logs(logs), x)

    def _mcmc_gradients(self, x, step_seed):
        """The stateless part of an MCMC step (`mcmc_training.gradients`); a hook."""
        return mcmc_training.gradients(self, x, step_seed)

    def _complete_train_logs(self, logs):
        """Adds the values logged in the MCMC phase, so every epoch has each column."""
        if self.refinement is not None:
            return mcmc_training.complete_train_logs(self, logs)
        return logs

    def _test_logs(self, x, seed):
        return self._elbo_loss(x, seed)[1]

    def test_seed(self):
        """The int32[2] seed of the next batch of this `evaluate` call.

        Batch i of every evaluation gets the same seed (a function of the model's seed
        and i), so evaluating twice gives the same values and validation never moves the
        training seed stream.
        """
        index = self._eval_batches.next_index()
        base = tf.stack([tf.constant(self.seed, tf.int32), index])
        return seeds.split_seed(base, n=1, salt="test_step")[0]

    def test_step(self, data):
        x = _images(data)
        logs = self._replica_compiled(self._test_logs)(x, self.test_seed())
        return self._update_metrics(logs, x)

    def _update_metrics(self, logs, x):
        """Updates the running values of `logs`; returns them.

        Means are weighted by the examples in the batch `x`, so an epoch's value is the
        mean over its examples even when the last batch is smaller (as Keras weights its
        own loss tracker). Under a multi-replica strategy the values are first
        all-reduced (counts summed, the others averaged weighted by each replica's
        examples), so every replica tracks the global values.
        """
        logs, weight = self._all_reduce_logs(logs, tf.cast(tf.shape(x)[0], tf.float32))
        self._step_metrics.update_state(logs, weight)
        running = self._step_metrics.result()  # one division for all names
        return replicas.for_keras_reduction({name: running[name] for name in logs})

    def _all_reduce_logs(self, logs, num_examples):
        """Global step values and the global example count.

        Counts are summed over replicas; the others are averaged, each replica's value
        weighted by its `num_examples` (a replica without examples, possible in an
        uneven last batch, has a NaN mean and weight 0: it is left out).
        """
        if replicas.num_replicas() == 1:
            return logs, num_examples
        reduced = dict(logs)
        sums = [n for n in logs if n in self._step_metrics.sum_names]
        means = [n for n in logs if n not in sums]
        if sums:
            values = tf.stack([tf.cast(logs[name], tf.float32) for name in sums])
            reduced.update(zip(sums, tf.unstack(replicas.all_reduce_sum(values))))
        total = replicas.all_reduce_sum(num_examples)
        if means:
            values = tf.stack([tf.cast(logs[name], tf.float32) for name in means])
            weighted = tf.where(num_examples > 0, values * num_examples, tf.zeros_like(values))
            mean = replicas.all_reduce_sum(weighted) / tf.maximum(total, 1.0)
            reduced.update(zip(means, tf.unstack(mean)))
        return reduced, total

    @property
    def metrics(self):
        return list(self._metric_views)
