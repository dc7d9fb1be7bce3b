"""Algorithm 1's MCMC phase, for any VAE that holds an `MCMCRefinement`.

A model takes MCMC as a component: `VAE(..., refinement=MCMCRefinement(d, ...))` (and the
same for `HierarchicalVAE` and `LinearGaussianHVAE`). Epochs before `mcmc_start_epoch`
train by the plain ELBO; from then on, per batch x:
  1. z_0 = mu(x) + sigma(x) * eps;
  2. encoder loss -ELBO(x; z_0), gradient to the encoder only;
  3. K transitions of the learned kernel from sg(z_0), accumulating the speed-measure
     gradient for (h, C) and the acceptance;
  4. generative loss -[log p(x|sg(z_K)) + log p(sg(z_K))], gradient to decoder, likelihood
     and prior only;
  5. one step of the model optimizer, one of the kernel optimizer, the beta rule.
The phase switches inside one `fit` (the train function is rebuilt at the first MCMC
epoch, so each phase compiles on its own). The functions here are the model's MCMC
methods; `VAE` calls them when its `refinement` is set.

#### References

[1] Hirt, M., Kreouzis, V. and Dellaportas, P. Learning variational autoencoders via
    MCMC speed measures. Statistics and Computing, 2024 (arXiv 2308.13731), Algorithm 1.
[2] Hoffman, M. D. Learning deep latent Gaussian models with Markov chain Monte Carlo.
    ICML 2017.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.util import replicas
from tf_smvae.util import seeds

tfd = tfp.distributions

EVAL_PROPOSALS = ("mean", "mixture")
MCMC_METRICS = (
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
COUNTS = ("rejected_nonfinite", "dropped_kernel_grads")
# Logged before the MCMC phase as NaN: they describe chains that have not run yet. (The
# counts log 0; step_size, entropy_weight and log_det_scale their current values.)
_CHAIN_METRICS = ("generative_loss", "acceptance", "entropy", "squared_jump")


class MCMCPhase(keras.callbacks.Callback):
    """Switches a model with a refinement into the MCMC phase at `mcmc_start_epoch`."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_mcmc_phase(epoch >= self.model.mcmc_start_epoch)

    def on_train_batch_end(self, batch, logs=None):
        if self.model._warm_start_traced:
            self.model.make_train_function()  # retraced without the warm start


def complete_train_logs(model, logs):
    """Every MCMC column from the first epoch on (Keras' History and CSVLogger fix their
    columns at the first epoch): NaN for the chain's values, 0 for its counts, the
    kernel's current step size, entropy weight and log-det scale."""
    logs = dict(logs)
    nan = tf.constant(float("nan"), tf.float32)
    logs.update({name: nan for name in _CHAIN_METRICS})
    logs.update({name: tf.zeros([], tf.float32) for name in COUNTS})
    logs.update(model.refinement.diagnostics())
    return logs


def train_step(model, x):
    """One MCMC-phase step on images `x`: both optimizers, the adaptation; the logs."""
    step_seed = model.next_seed("mcmc_train_step")
    if model._warm_start_traced:
        run_warm_start(model, x, step_seed)
    model.refinement.prepare_adaptation()
    compute = model._replica_compiled(model._mcmc_gradients)
    network_grads, logs, raw_chain = compute(x, step_seed)
    chain = model.refinement.finish_adaptation(raw_chain)
    model.optimizer.apply(network_grads, network_variables(model))
    if chain.kernel_grads is not None:
        model.kernel_optimizer.apply(
            chain.kernel_grads, model.refinement.kernel_parameters.trainable_variables
        )
    logs.update(
        acceptance=chain.accept_prob,
        entropy=chain.entropy,
        rejected_nonfinite=chain.num_nonfinite,
        dropped_kernel_grads=chain.dropped_grads,
        **model.refinement.diagnostics(),
    )
    return model._update_metrics(logs, x)


def warm_start_kernel(model, x, seed=None):
    """`VAE.warm_start_kernel` for a model with a refinement (see there)."""
    if not model.refinement.warm_start_due:
        return False
    seed = model.next_seed("warm_start_kernel") if seed is None else seeds.as_seed(seed)
    x = tf.convert_to_tensor(x, model.compute_dtype)
    tf.function(lambda x, seed: run_warm_start(model, x, seed), jit_compile=False)(x, seed)
    return True


def run_warm_start(model, x, step_seed):
    """At the first MCMC step: C from the encoder's mean posterior scales, h by the
    step-size search on this batch's encoder draws (`MCMCRefinement.warm_start`)."""
    draw_seed, search_seed = seeds.split_seed(step_seed, 2, "warm_start")
    _, scale = model.encode(x)
    start = model.sample_posterior(x, 1, draw_seed)[0]
    # Some encoders share their scales over the batch ([d] or [1, d]).
    log_scale = tf.math.log(tf.broadcast_to(scale, tf.shape(start)))
    scale_diag = tf.exp(replicas.all_reduce_mean(tf.reduce_mean(log_scale, 0)))
    model.refinement.warm_start(
        lambda z: model.log_joint(x, z),
        start,
        search_seed,
        scale_diag=scale_diag,
        scale=tf.stop_gradient(scale) if model.refinement.amortised else None,
    )


def _chain_scale(model, x, terms):
    """The encoder's posterior scales [B, d] for an amortised preconditioner, else None:
    the ELBO terms' `encoder_scale` where the model returns it (no second encoder pass),
    else `encode(x)`'s."""
    if not model.refinement.amortised:
        return None
    scale = terms.get("encoder_scale")
    return tf.stop_gradient(model.encode(x)[1] if scale is None else scale)


def network_variables(model):
    """The model optimizer's variables in the MCMC phase's order: encoder, then the
    generative ones (decoder, likelihood, prior)."""
    encoder_variables = model.encoder.trainable_variables
    encoder_ids = {id(v) for v in encoder_variables}
    generative = [v for v in model.network_variables if id(v) not in encoder_ids]
    return encoder_variables + generative


def gradients(model, x, step_seed):
    """The stateless part of an MCMC step (XLA-compiled per replica if asked).

    Returns:
      (gradients for `network_variables(model)`, logs, the refinement's raw chain
      results for `finish_adaptation`).
    """
    elbo_seed, chain_seed = seeds.split_seed(step_seed, 2, "mcmc")
    encoder_variables = model.encoder.trainable_variables
    generative_variables = network_variables(model)[len(encoder_variables) :]
    with tf.GradientTape() as tape:
        loss, logs, terms = model._elbo_loss(x, elbo_seed)
        scaled_loss = replicas.scale_for_sum(loss)  # summed over replicas
    encoder_grads = tape.gradient(scaled_loss, encoder_variables)
    start = tf.stop_gradient(terms["z"])
    chain = model.refinement.run_adaptation(
        lambda z: model.log_joint(x, z), start, chain_seed, scale=_chain_scale(model, x, terms)
    )
    with tf.GradientTape() as tape:
        generative_loss = -tf.reduce_mean(model.log_joint(x, tf.stop_gradient(chain.final_state)))
        scaled_generative_loss = replicas.scale_for_sum(generative_loss)
    generative_grads = tape.gradient(scaled_generative_loss, generative_variables)
    logs["generative_loss"] = generative_loss
    # ||z_K - z_0||^2 over the K transitions, mean over chains: how far the chains move
    # (0 when every proposal is rejected).
    jump = tf.reduce_sum(tf.square(tf.stop_gradient(chain.final_state) - start), -1)
    logs["squared_jump"] = tf.reduce_mean(tf.cast(jump, tf.float32))
    return encoder_grads + generative_grads, logs, chain


def chain_ends(model, x, num_chains, seed, num_steps=None):
    """M chains per example from encoder draws: returns (ends [M, B, d], scale [B, d])."""
    init_seed, chain_seed = seeds.split_seed(seed, 2, salt="chain_ends")
    _, scale = model.encode(x)
    start = tf.reshape(model.sample_posterior(x, num_chains, init_seed), [-1, model.latent_dim])
    tiled = tf.reshape(
        tf.repeat(x[tf.newaxis], num_chains, axis=0),
        tf.concat([[-1], tf.shape(x)[1:]], 0),
    )
    chain_scale = None
    if model.refinement.amortised:  # start is [M * B, d], M copies of the batch
        chain_scale = tf.tile(
            tf.broadcast_to(scale, tf.shape(start[: tf.shape(x)[0]])), [num_chains, 1]
        )
    results = model.refinement.sample(
        lambda z: model.log_joint(tiled, z),
        start,
        chain_seed,
        num_steps=num_steps,
        scale=chain_scale,
    )
    ends = tf.reshape(results.final_state, [num_chains, -1, model.latent_dim])
    return ends, scale


def importance_proposal(model, x, tau, seed=None):
    """r(z|x) centred on M refined chains (DESIGN section 6); adapts nothing.

    The chains run before any particle is drawn, so the estimator stays unbiased given
    them.
    """
    ends, scale = chain_ends(model, x, model.num_eval_chains, seed)
    scale = scale * tf.sqrt(tf.cast(tau, scale.dtype))
    if model.eval_proposal == "mixture":
        components = tfd.MultivariateNormalDiag(
            loc=tf.transpose(ends, [1, 0, 2]), scale_diag=scale[:, tf.newaxis, :]
        )
        num_chains, batch = tf.shape(ends)[0], tf.shape(ends)[1]
        weights = tfd.Categorical(logits=tf.zeros([batch, num_chains], scale.dtype))
        return tfd.MixtureSameFamily(weights, components)
    return tfd.MultivariateNormalDiag(loc=tf.reduce_mean(ends, 0), scale_diag=scale)


def refine(model, x, num_steps=None, seed=None):
    """`VAE.refine` for a model with a refinement (see there)."""
    # Always the tensor-count path, so eager calls and the SavedModel endpoint (which
    # takes num_steps as a tensor) draw the same random stream.
    if num_steps is None:
        num_steps = model.refinement.num_steps
    num_steps = tf.convert_to_tensor(num_steps, tf.int32)
    if tf.executing_eagerly():
        model.warm_start_kernel(x)
    seed = model.next_seed("refine") if seed is None else seeds.as_seed(seed)
    ends, _ = chain_ends(model, x, 1, seed, num_steps=num_steps)
    return ends[0]
