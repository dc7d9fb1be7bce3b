"""What every study shares: settings, seeds, epoch scaling, quick mode and the same-config
check.

Each study (`tables`, `linear`, `augmentation`) trains many runs into one workdir and
reuses the finished ones on a rerun; the helpers here make those choices the same way in
all of them. A study's settings are an `ml_collections.FrozenConfigDict`, as the training
configs are ConfigDicts: its defaults are one ConfigDict in the study's module
(`DEFAULTS`), and `make_settings` / `replace` give the frozen settings a run takes.
"""

import json
import os

import ml_collections

from tf_smvae.util import files
from tf_smvae.util.errors import ConfigError

__all__ = [
    "QUICK_NUM_SAMPLE_IMAGES",
    "changed_training",
    "check_same_training",
    "make_quick",
    "make_settings",
    "replace",
    "parse_seeds",
    "read_json",
    "scale_schedule",
    "select",
]

# Config fields that do not change what a finished run computed.
IGNORED_CHANGES = ("train.jit_compile", "train.verbose")
# Prior samples drawn at the end of a quick run.
QUICK_NUM_SAMPLE_IMAGES = 16


def make_settings(defaults, overrides, what="settings"):
    """`defaults` with `overrides` applied, frozen (no field can be added or changed).

    Args:
      defaults: a ConfigDict (or FrozenConfigDict) holding every field and its default.
      overrides: {field: value}; a value replaces the default whole (also a nested one).
      what: the settings' name in the error message.

    Returns:
      An `ml_collections.FrozenConfigDict` (lists become tuples).

    Raises:
      ConfigError: naming a field `defaults` does not have.
    """
    unknown = sorted(set(overrides) - set(defaults.keys()))
    if unknown:
        raise ConfigError(
            f"Unknown {what} field(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(defaults.keys()))}."
        )
    values = {name: defaults[name] for name in defaults.keys()}
    values.update(overrides)
    return ml_collections.FrozenConfigDict(values)


def replace(settings, **changes):
    """A copy of frozen `settings` with `changes` (as `dataclasses.replace`)."""
    return make_settings(settings, changes)


def parse_seeds(values, flag="--seeds"):
    """Training seeds from strings (a flag's list) as a tuple of ints.

    Raises:
      ConfigError: naming `flag`, for a value that is not an integer.
    """
    try:
        return tuple(int(seed) for seed in values)
    except (TypeError, ValueError):
        raise ConfigError(f"{flag} must be integers, got {values}.") from None


def select(names, known, flag):
    """`names` checked against `known` (all of `known`, in order, when `names` is empty).

    Raises:
      ConfigError: naming `flag` and the known names, for an unknown name.
    """
    if not names:
        return list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(f"Unknown {flag} {unknown}; known: {', '.join(known)}.")
    return list(names)


def scale_schedule(config, scale, flag="--epochs_scale"):
    """Multiplies the ELBO and MCMC phases' epochs by `scale` (in place), keeping at least
    one epoch in each phase that has any.

    Raises:
      ConfigError: naming `flag`, for a scale that is not positive.
    """
    if not scale > 0:
        raise ConfigError(f"{flag} must be positive, got {scale}.")
    elbo = config.kernel.mcmc_start_epoch
    mcmc = config.train.epochs - elbo
    elbo, mcmc = (max(1, round(n * scale)) if n > 0 else 0 for n in (elbo, mcmc))
    config.kernel.mcmc_start_epoch = elbo
    config.train.epochs = elbo + mcmc
    return config


def make_quick(config):
    """Quick mode's training schedule (in place): one ELBO epoch, one MCMC epoch (rows
    without a kernel: two ELBO epochs), no checkpoints within the run, no progress lines,
    `QUICK_NUM_SAMPLE_IMAGES` samples. A study shrinks its data on top of this."""
    config.train.epochs = 2
    config.kernel.mcmc_start_epoch = 1
    config.train.checkpoint_every_steps = 0
    config.train.verbose = 0
    config.train.num_sample_images = QUICK_NUM_SAMPLE_IMAGES
    return config


def read_json(path):
    """The JSON in `path`, or None where there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def changed_training(stored, resolved, ignored=IGNORED_CHANGES):
    """The dotted fields where a stored run's config differs from `resolved` (fields a
    newer tf_smvae added are not a difference)."""
    return files.changed_fields(stored, resolved, ignored, ignore_added=True)


def check_same_training(stored, resolved, path, ignored=IGNORED_CHANGES):
    """Raises ConfigError naming `path` and the fields where a stored run's config differs."""
    changed = changed_training(stored, resolved, ignored)
    if changed:
        details = files.describe_changes(stored, resolved, changed)
        raise ConfigError(
            f"{path} was trained with a different config ({details}). Use a new --workdir, "
            "or rerun with the flags it was made with (--epochs_scale, --quick, --data_dir)."
        )
