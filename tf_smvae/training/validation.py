"""Config validation before any work: one clear error naming the bad field."""

import math

from tf_smvae import data
from tf_smvae import mcmc
from tf_smvae import nn
from tf_smvae.model import likelihoods
from tf_smvae.model import mcmc_training
from tf_smvae.model import priors
from tf_smvae.model import refinement
from tf_smvae.training import builders
from tf_smvae.training import distribute
from tf_smvae.training import kid_images
from tf_smvae.util.errors import ConfigError

__all__ = ["validate_config"]

_POSITIVE_INTS = (
    "model.latent_dim",
    "train.epochs",
    "train.batch_size",
    "eval.num_samples",
    "eval.batch_size",
    "kernel.num_eval_chains",
    "model.feature_dim",
    "model.prior_num_components",
    "train.keep_checkpoints",
    "eval.kid_num_samples",
    "eval.kid_num_subsets",
)
_OPTIONAL_POSITIVE_INTS = (
    "train.steps_per_epoch",
    "dataset.num_train_examples",
    "dataset.num_test_examples",
    "eval.num_examples",
    "eval.chunk_size",
    "dataset.image_size",
    "eval.kid_num_real",
)
_NON_NEGATIVE_INTS = (
    "train.checkpoint_every_steps",
    "train.num_sample_images",
    "kernel.mcmc_start_epoch",
    "seed",
    "eval.seed",
)
_OPTIONAL_POSITIVE_FLOATS = ("eval.defensive_tau",)
_POSITIVE_FLOATS = (
    "train.learning_rate",
    "eval.tau",
    "model.likelihood_variance",
    "kernel.learning_rate",
    "kernel.init_step_size",
    "kernel.entropy_weight",
)
_NON_NEGATIVE_FLOATS = ("kernel.entropy_weight_rate",)
_BOOLS = (
    "model.residual",
    "model.learn_likelihood_scale",
    "model.analytic_kl",
    "kernel.restart_each_batch",
    "kernel.warm_start",
    "train.jit_compile",
)
_INT_SEQUENCES = ("model.hidden_units",)
# field -> the values it may take (fields whose values are not registry names).
_CHOICES = {
    "train.verbose": (0, 1, 2),
}


def _get(config, dotted):
    value = config
    for part in dotted.split("."):
        value = value[part]
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_keys(config, reference, prefix=""):
    """Every key of `config` must exist in `reference` (the base config)."""
    for key in config.keys():
        name = f"{prefix}{key}"
        if key not in reference:
            raise ConfigError(
                f"Unknown config field {name!r}; known fields here: "
                f"{', '.join(sorted(prefix + k for k in reference.keys()))}."
            )
        if hasattr(config[key], "keys") and hasattr(reference[key], "keys"):
            _check_keys(config[key], reference[key], prefix=f"{name}.")


def _check_ranges(config):
    for field in _POSITIVE_INTS:
        value = _get(config, field)
        if not _is_int(value) or value < 1:
            raise ConfigError(f"Config field {field!r} must be an integer >= 1, got {value!r}.")
    for field in _OPTIONAL_POSITIVE_INTS:
        value = _get(config, field)
        if value is not None and (not _is_int(value) or value < 1):
            raise ConfigError(f"Config field {field!r} must be None or >= 1, got {value!r}.")
    for field in _NON_NEGATIVE_INTS:
        value = _get(config, field)
        if not _is_int(value) or value < 0:
            raise ConfigError(f"Config field {field!r} must be an integer >= 0, got {value!r}.")
    for field in _POSITIVE_FLOATS:
        value = _get(config, field)
        if not _is_number(value) or not value > 0:
            raise ConfigError(f"Config field {field!r} must be a finite number > 0, got {value!r}.")
    for field in _OPTIONAL_POSITIVE_FLOATS:
        value = _get(config, field)
        if value is not None and (not _is_number(value) or not value > 0):
            raise ConfigError(
                f"Config field {field!r} must be None or a number > 0, got {value!r}."
            )
    _check_other_types(config)


def _check_other_types(config):
    """Non-negative numbers, booleans, integer sequences and fixed choices."""
    for field in _NON_NEGATIVE_FLOATS:
        value = _get(config, field)
        if not _is_number(value) or value < 0:
            raise ConfigError(
                f"Config field {field!r} must be a finite number >= 0, got {value!r}."
            )
    for field in _BOOLS:
        value = _get(config, field)
        if not isinstance(value, bool):
            raise ConfigError(f"Config field {field!r} must be True or False, got {value!r}.")
    for field in _INT_SEQUENCES:
        value = _get(config, field)
        if isinstance(value, (str, bytes)) or not all(
            _is_int(v) and v >= 1 for v in _as_tuple(value)
        ):
            raise ConfigError(
                f"Config field {field!r} must be a sequence of integers >= 1, got {value!r}."
            )
    for field, choices in _CHOICES.items():
        value = _get(config, field)
        if value not in choices or isinstance(value, bool):
            raise ConfigError(
                f"Config field {field!r} must be one of {', '.join(map(repr, choices))}, "
                f"got {value!r}."
            )
    if not (_is_int(config.eval.kid_subset_size) and config.eval.kid_subset_size >= 2):
        raise ConfigError(
            "Config field 'eval.kid_subset_size' must be an integer >= 2, "
            f"got {config.eval.kid_subset_size!r}."
        )


def _as_tuple(value):
    try:
        return tuple(value)
    except TypeError:
        return (None,)


def _check_names(config):
    data.SOURCES.get(config.dataset.name, field="dataset.name")
    nn.NETWORKS.get(config.model.network, field="model.network")
    likelihoods.LIKELIHOODS.get(config.model.likelihood, field="model.likelihood")
    priors.PRIORS.get(config.model.prior, field="model.prior")
    builders.MODELS.get(config.model.name, field="model.name")
    if config.kernel.name not in builders.kernel_names():
        raise ConfigError(
            f"Unknown kernel {config.kernel.name!r} (field 'kernel.name'); known: "
            f"{', '.join(builders.kernel_names())}."
        )
    nn.SCALE_FNS.get(config.model.scale_fn, field="model.scale_fn")
    data.BINARIZATIONS.get(config.dataset.binarization, field="dataset.binarization")
    kid_images.KID_REAL_IMAGES.get(config.eval.kid_real_images, field="eval.kid_real_images")


def _check_kernel(config):
    """The MCMC fields, checked only when a kernel is used."""
    kernel = config.kernel
    if kernel.name == "none":
        return
    refinement.check_arguments(
        **{name: kernel["name" if name == "kernel" else name] for name in refinement.CHECKED},
        prefix="kernel.",
    )
    mcmc.GRADIENT_MODES.get(kernel.gradient_mode, field="kernel.gradient_mode")
    mcmc.LOG_DET_ESTIMATORS.get(kernel.entropy_estimator, field="kernel.entropy_estimator")
    if kernel.mcmc_start_epoch >= config.train.epochs:
        raise ConfigError(
            f"Config field 'kernel.mcmc_start_epoch' ({kernel.mcmc_start_epoch}) must be "
            f"below train.epochs ({config.train.epochs}), or no epoch would use the kernel."
        )
    target = kernel.target_accept_prob
    if target is not None and not 0.0 < target < 1.0:
        raise ConfigError(
            f"Config field 'kernel.target_accept_prob' must be in (0, 1), got {target}."
        )
    if kernel.eval_proposal not in mcmc_training.EVAL_PROPOSALS:
        raise ConfigError(
            "Config field 'kernel.eval_proposal' must be one of "
            f"{', '.join(mcmc_training.EVAL_PROPOSALS)}, got {kernel.eval_proposal!r}."
        )


def validate_config(config, reference=None):
    """Checks a config before any data is read or model built.

    Args:
      config: the resolved `ml_collections.ConfigDict`.
      reference: optional base config; every key of `config` must exist in it.

    Raises:
      ConfigError: naming the first bad field.
    """
    if reference is not None:
        _check_keys(config, reference)
    _check_ranges(config)
    _check_names(config)
    builders.MODELS.get(config.model.name, field="model.name").check(config)
    _check_kernel(config)
    distribute.check_config(config)
