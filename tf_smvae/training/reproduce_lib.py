"""Tables 1, 2 and 6 of the paper: train every (dataset, row, seed), evaluate, tabulate.

For each dataset, row and seed the training config comes from an experiment config file
(`configs/table1_<dataset>.py:<row>`, `configs/table2_<dataset>.py:<row>`,
`configs/table6_hvae.py:<row>`, each overriding `configs/base.py`), is trained by
`train_lib.run` and evaluated: Table 1 by the importance-sampled test log-likelihood,
Tables 2 and 6 by the KID of prior samples against the real test images.

workdir/
  runs/<dataset>/<row>/seed<k>/   a `bin/train.py` workdir (config.json, checkpoints/,
                                  metrics.jsonl, samples/, model.keras), plus
      result.json                 the run's record; a rerun with the same settings reads
                                  it back instead of training (different evaluation
                                  settings: re-evaluated from the checkpoint only)
      samples.png                 prior samples of the final model
      training_curves.png         loss, acceptance, step size, entropy weight per epoch
  results.json                    {dataset: {row: {metric: {"mean", "std", "seeds"}}}}
  table1.md / table2.md / table6.md   ours beside the paper's, mean (std) over seeds

An interrupted run resumes from its newest checkpoint when the command is repeated.
"""

import dataclasses
import importlib
import json
import os
import time

from tf_smvae.training import paper_tables
from tf_smvae.training import reports
from tf_smvae.training import reproduce_evaluators
from tf_smvae.training import train_lib
from tf_smvae.util import files
from tf_smvae.util import images
from tf_smvae.util.errors import ConfigError

__all__ = [
    "TABLES",
    "Settings",
    "TableSpec",
    "define_flags",
    "format_table",
    "main",
    "make_config",
    "run_directory",
    "run_table",
    "settings_from_flags",
]


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One paper table: its rows, datasets, experiment configs and metric.

    Attributes:
      name: "table1", "table2" or "table6" (also the markdown file's stem).
      title: heading of the markdown table.
      rows: row names in the paper's order.
      datasets: dataset names in the paper's column order.
      config_module: module of the experiment config, `{dataset}` filled in.
      evaluator: key of `reproduce_evaluators.EVALUATORS`.
      paper: the paper's numbers, row -> {dataset: "mean (std)"}.
    """

    name: str
    title: str
    rows: tuple
    datasets: tuple
    config_module: str
    evaluator: str
    paper: dict


_TABLE1_ROWS = tuple(paper_tables.TABLE1)
TABLES = {
    "table1": TableSpec(
        "table1",
        "Table 1: IS estimate of the test log-likelihood (nats; SVHN in bits/dim)",
        _TABLE1_ROWS,
        ("mnist", "fashion_mnist", "omniglot", "svhn"),
        "configs.table1_{dataset}",
        "log_likelihood",
        paper_tables.TABLE1,
    ),
    "table2": TableSpec(
        "table2",
        "Table 2: KID of prior samples (lower is better)",
        tuple(paper_tables.TABLE2),
        ("mnist", "fashion_mnist", "svhn", "cifar10"),
        "configs.table2_{dataset}",
        "kid",
        paper_tables.TABLE2,
    ),
    "table6": TableSpec(
        "table6",
        "Table 6: KID of the non-linear hVAE, latent (5, 10) (lower is better)",
        tuple(paper_tables.TABLE6),
        ("mnist", "fashion_mnist"),
        "configs.table6_hvae",
        "kid",
        paper_tables.TABLE6,
    ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every run of a table shares.

    Attributes:
      seeds: training seeds (each run's `config.seed`; also its evaluation seed).
      epochs_scale: multiplies the epochs of both phases (at least 1 epoch per phase).
      quick: a few hundred examples, 1 + 1 epochs, at most 2 MCMC transitions, tiny
        evaluations (tests).
      jit_compile: XLA-compile training and evaluation.
      data_dir: `config.dataset.data_dir` (None: the sources' default places).
      num_samples: IS particles S per example (Table 1) or generated images (KID);
        None: 10000 (quick: 10 for IS, 100 for KID).
      tau: variance inflation of the IS proposal.
      defensive_tau: Table 1 also reports IS with the defensive mixture of the proposals
        at `tau` and at this inflation (`log_likelihood_defensive`); None: not.
      feature_extractor: KID features: a `.keras` model file, or "inception".
      inception_weights: InceptionV3 notop weights file (feature_extractor "inception").
      kid_subsets: subsets the KID is averaged over (quick: 10).
      kid_subset_size: images per subset (quick: 50).
    """

    seeds: tuple = (0, 1, 2)
    epochs_scale: float = 1.0
    quick: bool = False
    jit_compile: bool = True
    data_dir: str | None = None
    num_samples: int | None = None
    tau: float = 1.5
    defensive_tau: float | None = 4.5
    feature_extractor: str | None = None
    inception_weights: str | None = None
    kid_subsets: int = 100
    kid_subset_size: int = 1000


# -- configs -----------------------------------------------------------------------------


def _scale_schedule(config, scale):
    """Multiplies the ELBO and MCMC phases' epochs by `scale`, keeping >= 1 epoch each."""
    if scale <= 0:
        raise ConfigError(f"--epochs_scale must be positive, got {scale}.")
    elbo = config.kernel.mcmc_start_epoch
    mcmc = config.train.epochs - elbo
    elbo, mcmc = (max(1, round(n * scale)) if n > 0 else 0 for n in (elbo, mcmc))
    config.kernel.mcmc_start_epoch = elbo
    config.train.epochs = elbo + mcmc


def _make_quick(config):
    """A few hundred examples, 1 + 1 epochs, K <= 2: every code path in seconds."""
    config.dataset.num_train_examples = 300
    config.dataset.num_test_examples = 100
    config.train.epochs = 2
    config.kernel.mcmc_start_epoch = 1
    config.kernel.num_steps = min(config.kernel.num_steps, 2)
    config.kernel.num_eval_chains = 4
    config.train.num_sample_images = 16
    config.train.checkpoint_every_steps = 0
    config.train.verbose = 0


def make_config(spec, dataset, row, seed, settings):
    """The training config of one run.

    Args:
      spec: a `TableSpec`.
      dataset: one of `spec.datasets`.
      row: one of `spec.rows`.
      seed: the training seed.
      settings: `Settings`.

    Returns:
      An `ml_collections.ConfigDict` shaped like `configs/base.py`.

    Raises:
      ConfigError: if the experiment config module is missing.
    """
    module_name = spec.config_module.format(dataset=dataset)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ConfigError(
            f"No experiment config {module_name!r} for dataset {dataset!r} of {spec.name} "
            f"({error})."
        ) from None
    config = module.get_config(row)
    config.dataset.name = dataset
    config.seed = int(seed)
    config.eval.seed = int(seed)
    config.train.jit_compile = bool(settings.jit_compile)
    if settings.data_dir:
        config.dataset.data_dir = settings.data_dir
    _scale_schedule(config, settings.epochs_scale)
    if settings.quick:
        _make_quick(config)
    return config


def run_directory(workdir, dataset, row, seed):
    """workdir/runs/<dataset>/<row>/seed<k>: the `train_lib` workdir of one run."""
    return os.path.join(workdir, "runs", dataset, row, f"seed{seed}")


def _select(names, known, flag):
    if not names:
        return list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(f"Unknown {flag} {unknown}; known: {', '.join(known)}.")
    return list(names)


# -- one run -----------------------------------------------------------------------------------


def _read_json(path):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


# Config fields that do not change what a finished run computed.
_IGNORED_CHANGES = ("train.jit_compile", "train.verbose")


def _check_same_training(stored, resolved, path):
    """Raises ConfigError naming the fields where a stored run's config differs."""
    changed = files.changed_fields(stored, resolved, _IGNORED_CHANGES, ignore_added=True)
    if changed:
        details = files.describe_changes(stored, resolved, changed)
        raise ConfigError(
            f"{path} was trained with a different config ({details}). Use a new --workdir, "
            "or rerun with the flags it was made with (--epochs_scale, --quick, --data_dir)."
        )


def _train(config, run_dir):
    """Trains (or resumes) one run; returns `(model, seconds, divergence or None)`."""
    start = time.time()
    try:
        model = train_lib.run(config, run_dir)
    except FloatingPointError as error:
        return None, time.time() - start, str(error)
    return model, time.time() - start, None


def _write_pictures(model, run_dir, seed, num_images):
    samples = model.sample(num_images, seed=int(seed)).numpy()
    images.write_png(os.path.join(run_dir, "samples.png"), images.image_grid(samples))
    metrics = train_lib.RunPaths(run_dir).metrics
    if os.path.exists(metrics):
        reports.plot_training_curves(metrics, os.path.join(run_dir, "training_curves.png"))


def _run_one(spec, evaluator, workdir, dataset, row, seed, settings):
    """Trains and evaluates one (dataset, row, seed), or reads its stored record."""
    config = make_config(spec, dataset, row, seed, settings)
    run_dir = run_directory(workdir, dataset, row, seed)
    path = os.path.join(run_dir, "result.json")
    resolved = json.loads(config.to_json_best_effort())
    eval_settings = evaluator.eval_settings()
    stored = _read_json(path)
    if stored is not None:
        _check_same_training(stored["config"], resolved, path)
        if stored.get("diverged") or stored["eval"] == eval_settings:
            return stored, "stored"
        _, model = train_lib.restore_model(run_dir)
        train_seconds, divergence, status = stored["train_seconds"], None, "re-evaluated"
    else:
        model, train_seconds, divergence = _train(config, run_dir)
        status = "trained"
    record = dict(dataset=dataset, row=row, seed=int(seed), train_seconds=train_seconds)
    if divergence is None:
        start = time.time()
        record.update(evaluator.evaluate(model, config, seed), diverged=False)
        record["eval_seconds"] = time.time() - start
        _write_pictures(model, run_dir, seed, config.train.num_sample_images)
    else:
        record.update({name: None for name in evaluator.metrics}, diverged=True)
        record["divergence"] = divergence
    record.update(eval=eval_settings, config=resolved)
    reports.write_json(path, record)
    return record, status


def _summary_line(spec, metrics, record, status):
    label = f"[{spec.name}] {record['dataset']} {record['row']} seed {record['seed']}"
    if record.get("diverged"):
        return f"{label}: DIVERGED ({record.get('divergence')}) [{status}]"
    values = ", ".join(
        f"{name} {record[name]:.4f}" for name in metrics if record.get(name) is not None
    )
    return f"{label}: {values} [{status}]"


# -- the table ---------------------------------------------------------------------------------


def format_table(spec, results, settings):
    """Markdown of one table (ours beside the paper's) with a line on how ours were made."""
    evaluator = reproduce_evaluators.EVALUATORS.get(spec.evaluator)(settings)
    evaluation_note = ", ".join(f"{k} {v}" for k, v in evaluator.eval_settings().items())
    note = (
        f"Ours: mean (std) over seeds {list(settings.seeds)}; epochs x {settings.epochs_scale}"
        f"{' (quick)' if settings.quick else ''}; evaluation: {evaluation_note}."
    )
    return paper_tables.format_table(
        spec.title, spec.paper, spec.rows, spec.datasets, spec.evaluator, results, note
    )


def run_table(table, workdir, settings=None, datasets=None, rows=None, log=print):
    """Trains and evaluates every (dataset, row, seed) of a table not yet done; writes reports.

    Args:
      table: "table1", "table2" or "table6".
      workdir: output directory (created; finished runs in it are reused).
      settings: `Settings` (default: the paper's schedule, three seeds).
      datasets: subset of the table's datasets (default: all).
      rows: subset of the table's rows (default: all, in the paper's order).
      log: called with one line per finished run.

    Returns:
      The results dict written to workdir/results.json.

    Raises:
      ConfigError: for an unknown table, dataset or row, or a workdir made with other
        training settings.
    """
    if table not in TABLES:
        raise ConfigError(f"Unknown table {table!r}; known: {', '.join(TABLES)}.")
    spec = TABLES[table]
    settings = settings or Settings()
    datasets = _select(datasets, spec.datasets, "--datasets")
    rows = _select(rows, spec.rows, "--rows")
    evaluator = reproduce_evaluators.EVALUATORS.get(spec.evaluator)(settings)
    evaluator.check()
    records = {}
    for dataset in datasets:
        for row in rows:
            for seed in settings.seeds:
                record, status = _run_one(spec, evaluator, workdir, dataset, row, seed, settings)
                log(_summary_line(spec, evaluator.metrics, record, status))
                records.setdefault(dataset, {}).setdefault(row, []).append(record)
    results = paper_tables.aggregate(records, spec.evaluator)
    reports.write_json(os.path.join(workdir, "results.json"), results)
    reports.write_text(
        os.path.join(workdir, f"{spec.name}.md"), format_table(spec, results, settings)
    )
    return results


# -- command line ----------------------------------------------------------------------------


def define_flags(table, flag_values=None):
    """Defines the flags of `bin/reproduce_<table>.py` (the KID tables get the KID flags).

    Args:
      table: a key of `TABLES`.
      flag_values: an `absl.flags.FlagValues` (default: the global `flags.FLAGS`).
    """
    from absl import flags

    spec = TABLES[table]
    values = flags.FLAGS if flag_values is None else flag_values
    defaults = Settings()
    kw = dict(flag_values=values)
    flags.DEFINE_string("workdir", None, "Output directory.", required=True, **kw)
    flags.DEFINE_list("datasets", None, f"Subset of: {', '.join(spec.datasets)}.", **kw)
    flags.DEFINE_list("rows", None, f"Subset of: {', '.join(spec.rows)}.", **kw)
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.", **kw)
    flags.DEFINE_float(
        "epochs_scale", 1.0, "Multiplies every phase's epochs (at least 1 per phase).", **kw
    )
    flags.DEFINE_integer(
        "num_samples",
        None,
        "IS particles per example (Table 1) or generated images (KID); default 10000.",
        **kw,
    )
    flags.DEFINE_bool("quick", False, "Tiny data, 1 + 1 epochs, tiny evaluation (tests).", **kw)
    flags.DEFINE_bool("jit_compile", True, "XLA-compile training and evaluation.", **kw)
    flags.DEFINE_string("data_dir", None, "config.dataset.data_dir of every run.", **kw)
    if spec.evaluator == "log_likelihood":
        flags.DEFINE_float("tau", defaults.tau, "Variance inflation of the IS proposal.", **kw)
        flags.DEFINE_float(
            "defensive_tau",
            defaults.defensive_tau,
            "Also score IS with a defensive mixture at this inflation (<= 0: not).",
            **kw,
        )
        return
    flags.DEFINE_string(
        "feature_extractor", None, "KID features: a .keras model file, or 'inception'.", **kw
    )
    flags.DEFINE_string("inception_weights", None, "InceptionV3 notop weights (.h5).", **kw)
    flags.DEFINE_integer("kid_subsets", defaults.kid_subsets, "KID subsets.", **kw)
    flags.DEFINE_integer("kid_subset_size", defaults.kid_subset_size, "Images per subset.", **kw)


def settings_from_flags(values):
    """`Settings` from parsed flags (those `define_flags` defined).

    Raises:
      ConfigError: for a seed that is not an integer.
    """
    try:
        seeds = tuple(int(seed) for seed in values.seeds)
    except ValueError:
        raise ConfigError(f"--seeds must be integers, got {values.seeds}.") from None
    optional = {
        name: values[name].value
        for name in ("tau", "feature_extractor", "inception_weights", "kid_subsets")
        if name in values
    }
    if "kid_subset_size" in values:
        optional["kid_subset_size"] = values.kid_subset_size
    if "defensive_tau" in values:
        defensive = values.defensive_tau
        optional["defensive_tau"] = defensive if defensive is not None and defensive > 0 else None
    return Settings(
        seeds=seeds,
        epochs_scale=values.epochs_scale,
        quick=values.quick,
        jit_compile=values.jit_compile,
        data_dir=values.data_dir,
        num_samples=values.num_samples,
        **optional,
    )


def main(table, argv):
    """The body of `bin/reproduce_<table>.py`: flags -> `run_table` -> paths printed."""
    from absl import app
    from absl import flags

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    values = flags.FLAGS
    run_table(
        table,
        values.workdir,
        settings_from_flags(values),
        datasets=values.datasets,
        rows=values.rows,
        log=lambda line: print(line, flush=True),
    )
    print(f"Wrote {values.workdir}/{table}.md and results.json", flush=True)
