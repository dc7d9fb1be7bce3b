"""Builds datasets and models from a config, by registry."""

import collections
import functools
import math

import keras
import tensorflow as tf
from absl import logging

from tf_smvae import data
from tf_smvae import mcmc
from tf_smvae.model import hierarchical
from tf_smvae.model import likelihoods
from tf_smvae.model import speed_measure_vae
from tf_smvae.model import vae as vae_lib
from tf_smvae.model.refinement import OPTIONS
from tf_smvae.model.refinement import MCMCRefinement
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry

__all__ = [
    "MODELS",
    "ModelSpec",
    "build_datasets",
    "build_model",
    "compile_model",
    "kernel_names",
]

# One registration per model: how to build it from a config, and how to check the config
# fields only it reads (validation runs `check`; cross-field rules stay in validation).
ModelSpec = collections.namedtuple("ModelSpec", ["build", "check"])
MODELS = Registry("model")


def kernel_names():
    """Values of `config.kernel.name`: "none" (no MCMC) or a registered kernel."""
    return ["none", *mcmc.KERNELS.names()]


def _uses_mcmc(config):
    return config.kernel.name != "none"


def _refinement_kwargs(config):
    """The MCMC component and its settings from `config.kernel`: `refinement` (a callable
    `d -> MCMCRefinement`, which the model calls after building its networks),
    `mcmc_start_epoch`, `num_eval_chains`, `eval_proposal`; none without a kernel.

    A model with a kernel is built as `SpeedMeasureVAE` / `SpeedMeasureHierarchicalVAE`:
    the VAE / HierarchicalVAE given this refinement, under the class name that its saved
    files have always carried."""
    if not _uses_mcmc(config):
        return {}
    kernel = config.kernel
    # Each option is the config field of the same name (the kernel's is `kernel.name`).
    options = {name: kernel["name" if name == "kernel" else name] for name in OPTIONS}
    refinement = functools.partial(MCMCRefinement, **options)
    return dict(
        refinement=refinement,
        mcmc_start_epoch=kernel.mcmc_start_epoch,
        num_eval_chains=kernel.num_eval_chains,
        eval_proposal=kernel.eval_proposal,
    )


def _vae_kwargs(config, image_shape):
    """Constructor arguments of `VAE` from `config.model`."""
    model_config = config.model
    network_kwargs = {}
    if model_config.network == "mlp":
        network_kwargs["hidden_units"] = tuple(model_config.hidden_units)
    prior_kwargs = {}
    if model_config.prior != "standard_normal":
        prior_kwargs["num_components"] = model_config.prior_num_components
    return dict(
        image_shape=image_shape,
        latent_dim=model_config.latent_dim,
        network=model_config.network,
        likelihood=model_config.likelihood,
        prior=model_config.prior,
        network_kwargs=network_kwargs,
        likelihood_kwargs=likelihoods.LIKELIHOODS.get(model_config.likelihood).config_options(
            model_config.likelihood_variance, model_config.learn_likelihood_scale
        ),
        prior_kwargs=prior_kwargs,
        analytic_kl=model_config.analytic_kl,
        scale_fn=model_config.scale_fn,
        seed=config.seed,
    )


def _build_vae(config, image_shape):
    cls = speed_measure_vae.SpeedMeasureVAE if _uses_mcmc(config) else vae_lib.VAE
    return cls(**_vae_kwargs(config, image_shape), **_refinement_kwargs(config))


def _build_hvae(config, image_shape):
    kwargs = _vae_kwargs(config, image_shape)
    for name in ("latent_dim", "prior", "prior_kwargs"):
        kwargs.pop(name)
    model_config = config.model
    kwargs.update(
        latent_dims=tuple(model_config.latent_dims),
        feature_dim=model_config.feature_dim,
        block_units=tuple(model_config.block_units),
        residual=model_config.residual,
        min_prior_scale=model_config.min_prior_scale,
    )
    if _uses_mcmc(config):
        cls = hierarchical.SpeedMeasureHierarchicalVAE
    else:
        cls = hierarchical.HierarchicalVAE
    return cls(**kwargs, **_refinement_kwargs(config))


def _check_vae(config):
    """The plain VAE has no fields beyond the shared ones."""
    del config


def _check_hvae(config):
    """The hierarchical fields: layer sizes, block widths, prior floor, prior name."""
    model = config.model
    for field in ("latent_dims", "block_units"):
        values = tuple(model[field])
        empty = field == "latent_dims" and not values
        if empty or not all(isinstance(v, int) and v >= 1 for v in values):
            raise ConfigError(
                f"Config field 'model.{field}' must be a sequence of integers >= 1"
                f"{' with one entry per layer' if field == 'latent_dims' else ''}, "
                f"got {model[field]!r}."
            )
    if not model.min_prior_scale >= 0.0:
        raise ConfigError(
            f"Config field 'model.min_prior_scale' must be >= 0, got {model.min_prior_scale!r}."
        )
    if model.prior != "standard_normal":
        raise ConfigError(
            "Config field 'model.prior' must be 'standard_normal' with model.name='hvae' "
            f"(its prior is the top-down hierarchy), got {model.prior!r}."
        )


MODELS.register("vae")(ModelSpec(_build_vae, _check_vae))
MODELS.register("hvae")(ModelSpec(_build_hvae, _check_hvae))


def _epoch_steps(config):
    """Optimizer steps per epoch: `train.steps_per_epoch`, else full training batches."""
    if config.train.steps_per_epoch:
        return int(config.train.steps_per_epoch)
    images, _ = data.load_arrays(
        config.dataset.name,
        "train",
        data_dir=config.dataset.data_dir,
        image_size=config.dataset.image_size,
    )
    num = len(images)
    if config.dataset.get("num_train_examples"):
        num = min(num, int(config.dataset.num_train_examples))
    return max(1, num // int(config.train.batch_size))


def _steps_per_execution(config, steps_per_epoch=None):
    """The training steps one compiled `fit` call runs (`train.steps_per_execution`).

    `steps_per_epoch` is the caller's count when it has the training set (None: counted
    from the training arrays, read again).

    The largest divisor of the requested value that also divides the steps per epoch and
    `train.checkpoint_every_steps`, so that every epoch end and every checkpoint step
    falls at the end of an execution (Keras calls batch callbacks once per execution).

    Under a distribution strategy (the caller's `strategy.scope()`) it is 1, see below.

    Raises:
      ConfigError: if `train.steps_per_execution` is not an int >= 1.
    """
    requested = config.train.get("steps_per_execution", 1)
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise ConfigError(f"train.steps_per_execution must be an int >= 1, got {requested!r}.")
    every = int(config.train.get("checkpoint_every_steps") or 0)
    steps = math.gcd(requested, every) if every > 0 else requested
    if steps <= 1:
        return 1
    steps = math.gcd(steps, steps_per_epoch or _epoch_steps(config))
    if steps > 1 and tf.distribute.has_strategy():
        # Keras 3's multi-step loop runs the step inside a tf.cond in a tf.while_loop;
        # under a distribution strategy (whose optimizer update calls merge_call) that
        # graph fails with "You must feed a value for placeholder tensor ... while/cond"
        # (keras-team/keras#19246; TF 2.21, Keras 3.15, also for a plain Dense model).
        logging.warning(
            "train.steps_per_execution=%d runs as 1 under %s: Keras cannot run several "
            "steps per call under a distribution strategy (keras-team/keras#19246).",
            steps,
            type(tf.distribute.get_strategy()).__name__,
        )
        return 1
    return steps


def compile_model(model, config, steps_per_epoch=None):
    """Compiles with Adam(train.learning_rate), plus Adam(kernel.learning_rate) for the
    kernel of MCMC-coupled models; XLA as `train.jit_compile` says, and
    `_steps_per_execution(config, steps_per_epoch)` steps per compiled call."""
    kwargs = dict(
        optimizer=keras.optimizers.Adam(config.train.learning_rate),
        jit_compile=bool(config.train.jit_compile),
        steps_per_execution=_steps_per_execution(config, steps_per_epoch),
    )
    if _uses_mcmc(config):
        kwargs["kernel_optimizer"] = keras.optimizers.Adam(config.kernel.learning_rate)
    model.compile(**kwargs)


def build_model(config, image_shape):
    """The model named by `config.model.name`, with weights built.

    Args:
      config: a validated config.
      image_shape: (H, W, C) of the data.

    Returns:
      An uncompiled Keras model.
    """
    return MODELS.get(config.model.name, field="model.name").build(config, tuple(image_shape))


def _load_split(
    config, split, num_examples, shuffle, batch_size, drop_remainder, repeat=False, **kwargs
):
    return data.load(
        config.dataset.name,
        split,
        batch_size=batch_size,
        likelihood=config.model.likelihood,
        binarization=config.dataset.binarization,
        data_dir=config.dataset.data_dir,
        shuffle=shuffle,
        seed=config.seed,
        num_examples=num_examples,
        drop_remainder=drop_remainder,
        repeat=repeat,
        image_size=config.dataset.image_size,
        **kwargs,
    )


def _check_batches_split(config, num_replicas):
    """Every full batch must split evenly over the replicas (keras-team/keras#19246)."""
    for field in ("train.batch_size", "eval.batch_size"):
        group, name = field.split(".")
        if config[group][name] % num_replicas:
            raise ConfigError(
                f"{field}={config[group][name]} must be a multiple of the {num_replicas} "
                "replicas of the distribution strategy (the global batch is split evenly)."
            )


def build_train_stream(config, start_step=0):
    """The training stream from batch `start_step`: batch s is a pure function of (seed, s).

    The same batches as `build_datasets`'s training split, repeated without end, so a
    resumed run that starts it at its restored optimizer step replays exactly the batches
    of an uninterrupted run (the data was already checked by `build_datasets`).

    Args:
      config: a validated config.
      start_step: the first batch (the model optimizer's step count).

    Returns:
      An infinite `tf.data.Dataset` of training batches.
    """
    return _train_split(config, repeat=True, validate=False, start_step=start_step)


def _train_split(config, repeat, **kwargs):
    """The training split: shuffled, full batches of `train.batch_size`."""
    return _load_split(
        config,
        "train",
        config.dataset.num_train_examples,
        shuffle=True,
        batch_size=config.train.batch_size,
        drop_remainder=True,
        repeat=repeat,
        **kwargs,
    )


def build_datasets(config, num_replicas=1):
    """Training and held-out datasets of `config.dataset`.

    The training set drops its last partial batch so that compiled steps keep one
    static shape, and repeats when `train.steps_per_epoch` is set (epochs then need
    not be passes over the data); the held-out set keeps every example (under several
    replicas `VAE.fit`/`evaluate` cut its last batch, `replicas.split_batches_evenly`).

    Args:
      config: a validated config.
      num_replicas: the replicas of the strategy the datasets will be used under.

    Returns:
      `(train, test, image_shape)`.

    Raises:
      ConfigError: naming `train.batch_size` or `eval.batch_size` if it is not a
        multiple of `num_replicas`.
    """
    _check_batches_split(config, num_replicas)
    train = _train_split(config, repeat=config.train.steps_per_epoch is not None)
    test = _load_split(
        config,
        "test",
        config.dataset.num_test_examples,
        shuffle=False,
        batch_size=config.eval.batch_size,
        drop_remainder=False,
    )
    image_shape = tuple(int(s) for s in train.element_spec.shape[1:])
    return train, test, image_shape
