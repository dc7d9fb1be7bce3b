"""Short command-line flags of the binaries, each an alias of one config field.

A flag takes the name of its config field's leaf (`--num_steps` is `kernel.num_steps`, K;
`--num_leapfrog_steps` is `kernel.num_leapfrog_steps`, L), except where the section
disambiguates (`--kernel` is `kernel.name`). Old names stay accepted for one release
(`DEPRECATED_FLAGS`), with a warning.

Two tables, one mechanism: `SHORT_FLAGS` (bin/train.py, over the whole training config)
and `EVAL_FLAGS` (bin/evaluate.py, over the stored run's `config.eval`).
"""

import sys

from absl import flags

from tf_smvae.util.errors import ConfigError

__all__ = [
    "CHOICES",
    "DEPRECATED_FLAGS",
    "EVAL_FLAGS",
    "SHORT_FLAGS",
    "apply_short_flags",
    "define_short_flags",
    "given_fields",
    "help_text",
]


class _IntListParser(flags.ListParser):
    """Parses "5,10" into the tuple (5, 10)."""

    def parse(self, argument):
        values = super().parse(argument)
        try:
            return tuple(int(value) for value in values)
        except ValueError:
            raise ValueError(f"expected comma-separated integers, got {argument!r}") from None

    def flag_type(self):
        return "comma-separated list of ints"


def _define_int_list(name, default, help_text, **kwargs):
    flags.DEFINE(
        _IntListParser(),
        name,
        default,
        help_text,
        serializer=flags.CsvListSerializer(","),
        **kwargs,
    )


# flag name -> (config field, absl definer, help). The accepted values of a flag in CHOICES
# come from its registry (`help_text`), not from the help string.
SHORT_FLAGS = {
    "model": ("model.name", flags.DEFINE_string, "Model."),
    "dataset": ("dataset.name", flags.DEFINE_string, "Dataset name."),
    "data_dir": ("dataset.data_dir", flags.DEFINE_string, "Where the data files are."),
    "epochs": ("train.epochs", flags.DEFINE_integer, "Training epochs in total."),
    "batch_size": ("train.batch_size", flags.DEFINE_integer, "Training batch size."),
    "latent_dim": ("model.latent_dim", flags.DEFINE_integer, "Latent dimension d."),
    "latent_dims": (
        "model.latent_dims",
        _define_int_list,
        "Layer sizes of the hierarchical VAE, top first, e.g. 5,10.",
    ),
    "likelihood": ("model.likelihood", flags.DEFINE_string, "Decoder likelihood."),
    "prior": ("model.prior", flags.DEFINE_string, "Prior."),
    "network": ("model.network", flags.DEFINE_string, "Encoder/decoder network."),
    "learning_rate": ("train.learning_rate", flags.DEFINE_float, "Model learning rate."),
    "seed": ("seed", flags.DEFINE_integer, "Random seed."),
    "steps_per_epoch": ("train.steps_per_epoch", flags.DEFINE_integer, "Steps per epoch."),
    "kernel": ("kernel.name", flags.DEFINE_string, "MCMC kernel."),
    "adaptation": (
        "kernel.adaptation",
        flags.DEFINE_string,
        "Kernel adaptation.",
    ),
    "preconditioner": (
        "kernel.preconditioner",
        flags.DEFINE_string,
        "Preconditioner C.",
    ),
    "num_steps": ("kernel.num_steps", flags.DEFINE_integer, "MCMC transitions K per step."),
    "num_leapfrog_steps": ("kernel.num_leapfrog_steps", flags.DEFINE_integer, "HMC steps L."),
    "mcmc_start_epoch": (
        "kernel.mcmc_start_epoch",
        flags.DEFINE_integer,
        "Epochs of ELBO pre-training before the MCMC phase.",
    ),
    "kernel_learning_rate": ("kernel.learning_rate", flags.DEFINE_float, "Kernel learning rate."),
    "target_accept_prob": (
        "kernel.target_accept_prob",
        flags.DEFINE_float,
        "Target acceptance a* of the entropy-weight rule.",
    ),
    "strategy": (
        "train.strategy",
        flags.DEFINE_string,
        "tf.distribute strategy.",
    ),
    "cpu_devices": (
        "train.cpu_devices",
        flags.DEFINE_integer,
        "Split the CPU into N logical devices before TensorFlow starts (0: leave alone).",
    ),
}


# bin/evaluate.py: flag -> (config.eval field, absl definer, help), written as
# (flag, field leaf, definer, help) rows.
EVAL_FLAGS = {
    name: (f"eval.{leaf}", definer, text)
    for name, leaf, definer, text in (
        ("num_samples", "num_samples", flags.DEFINE_integer, "Importance samples per example."),
        ("tau", "tau", flags.DEFINE_float, "Variance inflation of the proposal."),
        ("defensive_tau", "defensive_tau", flags.DEFINE_float, "A wider proposal (e.g. 5)."),
        ("num_examples", "num_examples", flags.DEFINE_integer, "The first N test examples."),
        ("chunk_size", "chunk_size", flags.DEFINE_integer, "Particles per chunk (memory)."),
        ("seed", "seed", flags.DEFINE_integer, "Evaluation seed."),
        (
            "feature_extractor",
            "kid_feature_extractor",
            flags.DEFINE_string,
            "KID features: a .keras classifier (bin/train_feature_extractor.py) or 'inception'.",
        ),
        ("inception_weights", "inception_weights", flags.DEFINE_string, "Notop InceptionV3 .h5."),
        ("kid_num_samples", "kid_num_samples", flags.DEFINE_integer, "Model samples for KID."),
        ("kid_num_subsets", "kid_num_subsets", flags.DEFINE_integer, "KID subsets."),
        ("kid_subset_size", "kid_subset_size", flags.DEFINE_integer, "Rows per KID subset."),
    )
}


# old flag name -> its new name; accepted, with a warning on stderr, until the next release.
DEPRECATED_FLAGS = {"num_mcmc_steps": "num_steps"}


def _registry_names(module, attribute):
    def names():
        import importlib

        return list(getattr(importlib.import_module(module), attribute).names())

    return names


def _kernel_names():
    from tf_smvae.training import builders

    return builders.kernel_names()


# flag name -> a function returning the accepted values (the registries' names), shown in
# --help. The registries are the single source: a newly registered dataset shows up here.
CHOICES = {
    "model": _registry_names("tf_smvae.training.builders", "MODELS"),
    "dataset": _registry_names("tf_smvae.data.sources", "SOURCES"),
    "likelihood": _registry_names("tf_smvae.model.likelihoods", "LIKELIHOODS"),
    "prior": _registry_names("tf_smvae.model.priors", "PRIORS"),
    "network": _registry_names("tf_smvae.nn.networks", "NETWORKS"),
    "kernel": _kernel_names,
    "adaptation": _registry_names("tf_smvae.model.refinement", "ADAPTATIONS"),
    "preconditioner": _registry_names("tf_smvae.model.refinement", "PRECONDITIONERS"),
    "strategy": _registry_names("tf_smvae.training.distribute", "STRATEGIES"),
}


def help_text(name, table=None):
    """The --help line of short flag `name`: its meaning, choices and the config field."""
    field, _, text = (SHORT_FLAGS if table is None else table)[name]
    if name in CHOICES:
        text = f"{text[:-1]}: one of {', '.join(CHOICES[name]())}."
    return f"{text} Overrides config.{field}."


def define_short_flags(names=None, flag_values=None, table=None):
    """Defines the short flags (all, or `names`), each defaulting to "not given".

    Args:
      names: which flags of `table` (default: all).
      flag_values: absl `FlagValues` to define them in (default: the global `flags.FLAGS`).
      table: `SHORT_FLAGS` (the default) or `EVAL_FLAGS`.
    """
    flag_values = flags.FLAGS if flag_values is None else flag_values
    table = SHORT_FLAGS if table is None else table
    names = list(names or table)
    for name in names:
        _, definer, _ = table[name]
        definer(name, None, help_text(name, table), flag_values=flag_values)
    for old, new in DEPRECATED_FLAGS.items():
        if new in names:
            _, definer, _ = table[new]
            text = f"Deprecated: use --{new} (this name goes in the next release)."
            definer(old, None, text, flag_values=flag_values)


def _given(flag_values, name):
    return name in flag_values and flag_values[name].value is not None


def _apply_deprecated(flag_values):
    """The values of deprecated flags given on the command line, under their new names.

    Raises:
      ConfigError: if a deprecated flag and its new name are both given.
    """
    values = {}
    for old, new in DEPRECATED_FLAGS.items():
        if not _given(flag_values, old):
            continue
        if _given(flag_values, new):
            raise ConfigError(f"--{old} and --{new} are the same flag; give --{new} only.")
        print(f"warning: --{old} is deprecated; use --{new}.", file=sys.stderr, flush=True)
        values[new] = flag_values[old].value
    return values


def apply_short_flags(config, flag_values=None):
    """Writes every short flag given on the command line into `config`.

    Args:
      config: the `ml_collections.ConfigDict` to update in place.
      flag_values: absl `FlagValues` (default: the global `flags.FLAGS`).

    Returns:
      `config`.

    Raises:
      ConfigError: if a deprecated flag and its new name are both given.
    """
    flag_values = flags.FLAGS if flag_values is None else flag_values
    given = {name: flag_values[name].value for name in SHORT_FLAGS if _given(flag_values, name)}
    given.update(_apply_deprecated(flag_values))
    for name, value in given.items():
        *parents, leaf = SHORT_FLAGS[name][0].split(".")
        node = config
        for parent in parents:
            node = node[parent]
        with node.unlocked():
            node[leaf] = value
    return config


def given_fields(table, section, flag_values=None):
    """The flags of `table` given on the command line, by their field in `section`.

    Args:
      table: a flag table (`EVAL_FLAGS`).
      section: the config section its fields are in ("eval").
      flag_values: absl `FlagValues` (default: the global `flags.FLAGS`).

    Returns:
      {field leaf: value}, e.g. `{"kid_feature_extractor": "x.keras"}` for
      `--feature_extractor=x.keras`.
    """
    flag_values = flags.FLAGS if flag_values is None else flag_values
    prefix = f"{section}."
    return {
        field[len(prefix) :]: flag_values[name].value
        for name, (field, _, _) in table.items()
        if field.startswith(prefix) and _given(flag_values, name)
    }
