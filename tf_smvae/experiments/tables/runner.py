"""Tables 1, 2 and 6 of the paper: train every (dataset, row, seed), evaluate, tabulate.

For each dataset, row and seed the training config comes from `row_config(dataset, row)`,
which the caller supplies (`bin/reproduce.py` reads `configs/table1.py:<dataset>,<row>`,
`configs/table2.py:<dataset>,<row>` or `configs/table6_hvae.py:<row>`, each overriding
`configs/base.py`; see `configs/tables.py`), is trained by `train_lib.run` and evaluated:
Table 1 by the importance-sampled test log-likelihood, Tables 2 and 6 by the KID of prior
samples against the real test images. The workdir:

```
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
```

An interrupted run resumes from its newest checkpoint when the command is repeated.
"""

import dataclasses
import json
import os
import time

import ml_collections

from tf_smvae.evaluation.kid import DEFAULT_NUM_SUBSETS as KID_NUM_SUBSETS
from tf_smvae.evaluation.kid import DEFAULT_SUBSET_SIZE as KID_SUBSET_SIZE
from tf_smvae.experiments import common
from tf_smvae.experiments import reports
from tf_smvae.experiments.tables import evaluators as reproduce_evaluators
from tf_smvae.experiments.tables import paper as paper_tables
from tf_smvae.training import train_lib
from tf_smvae.util import images
from tf_smvae.util.errors import ConfigError

__all__ = [
    "DEFAULTS",
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
    """One paper table: its rows, datasets and metric.

    Attributes:
      name: "table1", "table2" or "table6" (also the markdown file's stem).
      title: heading of the markdown table.
      rows: row names in the paper's order.
      datasets: dataset names in the paper's column order.
      evaluator: key of `reproduce_evaluators.EVALUATORS`.
      paper: the paper's numbers, row -> {dataset: "mean (std)"}.
    """

    name: str
    title: str
    rows: tuple
    datasets: tuple
    evaluator: str
    paper: dict


_TABLE1_ROWS = tuple(paper_tables.TABLE1)
TABLES = {
    "table1": TableSpec(
        "table1",
        "Table 1: IS estimate of the test log-likelihood (nats; SVHN in bits/dim)",
        _TABLE1_ROWS,
        ("mnist", "fashion_mnist", "omniglot", "svhn"),
        "log_likelihood",
        paper_tables.TABLE1,
    ),
    "table2": TableSpec(
        "table2",
        "Table 2: KID of prior samples (lower is better)",
        tuple(paper_tables.TABLE2),
        ("mnist", "fashion_mnist", "svhn", "cifar10"),
        "kid",
        paper_tables.TABLE2,
    ),
    "table6": TableSpec(
        "table6",
        "Table 6: KID of the non-linear hVAE, latent (5, 10) (lower is better)",
        tuple(paper_tables.TABLE6),
        ("mnist", "fashion_mnist"),
        "kid",
        paper_tables.TABLE6,
    ),
}


DEFAULTS = ml_collections.ConfigDict(
    dict(
        seeds=(0, 1, 2),
        epochs_scale=1.0,
        quick=False,
        jit_compile=True,
        data_dir=None,
        num_samples=None,
        tau=1.5,
        defensive_tau=4.5,
        feature_extractor=None,
        inception_weights=None,
        kid_subsets=KID_NUM_SUBSETS,
        kid_subset_size=KID_SUBSET_SIZE,
    )
)
"""The defaults of `Settings`, the one place they are written."""


def Settings(**overrides):  # noqa: N802  (called as the frozen dataclass it was)
    """What every run of a table shares. Every field is an override of its default in `DEFAULTS`.

    Args:
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

    Returns:
      An `ml_collections.FrozenConfigDict`.

    Raises:
      ConfigError: for a field that does not exist.
    """
    return common.make_settings(DEFAULTS, overrides, "tables settings")


# -- configs -----------------------------------------------------------------------------


def _make_quick(config):
    """A few hundred examples, 1 + 1 epochs, K <= 2: every code path in seconds."""
    common.make_quick(config)
    config.dataset.num_train_examples = 300
    config.dataset.num_test_examples = 100
    config.kernel.num_steps = min(config.kernel.num_steps, 2)
    config.kernel.num_eval_chains = 4


def make_config(row_config, dataset, row, seed, settings):
    """The training config of one run.

    Args:
      row_config: `(dataset, row) -> ConfigDict`, the row's experiment config (shaped
        like `configs/base.py`; e.g. `configs.tables.row_config("table1")`).
      dataset: a dataset of the table.
      row: a row of the table.
      seed: the training seed.
      settings: `Settings`.

    Returns:
      The row's config with the dataset, seed and the settings' schedule applied.

    Raises:
      ConfigError: if `row_config` has no config for the dataset, or for a bad
        `settings.epochs_scale`.
    """
    config = row_config(dataset, row)
    config.dataset.name = dataset
    config.seed = int(seed)
    config.eval.seed = int(seed)
    config.train.jit_compile = bool(settings.jit_compile)
    if settings.data_dir:
        config.dataset.data_dir = settings.data_dir
    common.scale_schedule(config, settings.epochs_scale)
    if settings.quick:
        _make_quick(config)
    return config


def run_directory(workdir, dataset, row, seed):
    """workdir/runs/<dataset>/<row>/seed<k>: the `train_lib` workdir of one run."""
    return os.path.join(workdir, "runs", dataset, row, f"seed{seed}")


# -- one run -----------------------------------------------------------------------------------


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


def _read_run(row_config, workdir, dataset, row, seed, settings):
    """One run's config, directory, resolved config and stored record (None if not
    finished); a stored record is checked against the config it must have been made with.
    """
    config = make_config(row_config, dataset, row, seed, settings)
    run_dir = run_directory(workdir, dataset, row, seed)
    resolved = json.loads(config.to_json_best_effort())
    path = os.path.join(run_dir, "result.json")
    stored = common.read_json(path)
    if stored is not None:
        common.check_same_training(stored["config"], resolved, path)
    return config, run_dir, resolved, stored


def _stored(row_config, workdir, dataset, row, seed, settings):
    """`(record, "stored")` of a finished run, or `(None, None)`."""
    stored = _read_run(row_config, workdir, dataset, row, seed, settings)[3]
    return (None, None) if stored is None else (stored, "stored")


def _run_one(row_config, evaluator, workdir, dataset, row, seed, settings):
    """Trains and evaluates one (dataset, row, seed), or reads its stored record."""
    config, run_dir, resolved, stored = _read_run(row_config, workdir, dataset, row, seed, settings)
    eval_settings = evaluator.eval_settings()
    if stored is not None:
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
    reports.write_json(os.path.join(run_dir, "result.json"), record)
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


def run_table(
    table,
    workdir,
    row_config,
    settings=None,
    datasets=None,
    rows=None,
    log=print,
    train_missing=True,
):
    """Trains and evaluates every (dataset, row, seed) of a table not yet done; writes reports.

    Args:
      table: "table1", "table2" or "table6".
      workdir: output directory (created; finished runs in it are reused).
      row_config: `(dataset, row) -> ConfigDict`, each row's experiment config (e.g.
        `configs.tables.row_config(table)`).
      settings: `Settings` (default: the paper's schedule, three seeds).
      datasets: subset of the table's datasets (default: all).
      rows: subset of the table's rows (default: all, in the paper's order).
      log: called with one line per finished run.
      train_missing: False writes the tables from the finished runs only (a study still
        running elsewhere, or runs committed from several machines): a missing run is
        left out with a line saying so, and a stored one is read as it is.

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
    datasets = common.select(datasets, spec.datasets, "--datasets")
    rows = common.select(rows, spec.rows, "--rows")
    evaluator = reproduce_evaluators.EVALUATORS.get(spec.evaluator)(settings)
    evaluator.check()
    records = {}
    for dataset in datasets:
        for row in rows:
            for seed in settings.seeds:
                if not train_missing:
                    record, status = _stored(row_config, workdir, dataset, row, seed, settings)
                    if record is None:
                        log(f"[{spec.name}] {dataset} {row} seed {seed}: not finished, left out")
                        continue
                else:
                    record, status = _run_one(
                        row_config, evaluator, workdir, dataset, row, seed, settings
                    )
                log(_summary_line(spec, evaluator.metrics, record, status))
                records.setdefault(dataset, {}).setdefault(row, []).append(record)
    results = paper_tables.aggregate(records, spec.evaluator)
    reports.write_json(os.path.join(workdir, "results.json"), results)
    reports.write_text(
        os.path.join(workdir, f"{spec.name}.md"), format_table(spec, results, settings)
    )
    return results


# -- command line ----------------------------------------------------------------------------


# The flags of one kind of evaluation; given to a table of another kind, they are an error.
_EVALUATION_FLAGS = {
    "log_likelihood": ("tau", "defensive_tau"),
    "kid": ("feature_extractor", "inception_weights", "kid_subsets", "kid_subset_size"),
}


def define_flags(flag_values=None):
    """Defines the flags of `bin/reproduce.py` (defaults: those of `Settings`).

    Args:
      flag_values: an `absl.flags.FlagValues` (default: the global `flags.FLAGS`).
    """
    from absl import flags

    values = flags.FLAGS if flag_values is None else flag_values
    defaults = DEFAULTS
    kw = dict(flag_values=values)
    flags.DEFINE_enum("table", None, list(TABLES), "The paper's table.", required=True, **kw)
    flags.DEFINE_string("workdir", None, "Output directory.", required=True, **kw)
    for name, what in (("datasets", "datasets"), ("rows", "rows")):
        known = "; ".join(f"{t}: {', '.join(getattr(spec, what))}" for t, spec in TABLES.items())
        flags.DEFINE_list(name, None, f"Subset of the table's {what} ({known}).", **kw)
    flags.DEFINE_list("seeds", [str(seed) for seed in defaults.seeds], "Training seeds.", **kw)
    flags.DEFINE_float(
        "epochs_scale",
        defaults.epochs_scale,
        "Multiplies every phase's epochs (at least 1 per phase).",
        **kw,
    )
    flags.DEFINE_integer(
        "num_samples",
        None,
        "IS particles per example (Table 1) or generated images (KID); default 10000.",
        **kw,
    )
    flags.DEFINE_bool("quick", False, "Tiny data, 1 + 1 epochs, tiny evaluation (tests).", **kw)
    flags.DEFINE_bool(
        "tables_only", False, "Write the tables from the finished runs only; train nothing.", **kw
    )
    flags.DEFINE_bool("jit_compile", defaults.jit_compile, "XLA-compile training and IS.", **kw)
    flags.DEFINE_string("data_dir", None, "config.dataset.data_dir of every run.", **kw)
    flags.DEFINE_float("tau", defaults.tau, "Table 1: variance inflation of the IS proposal.", **kw)
    flags.DEFINE_float(
        "defensive_tau",
        defaults.defensive_tau,
        "Table 1: also score IS with a defensive mixture at this inflation (<= 0: not).",
        **kw,
    )
    flags.DEFINE_string(
        "feature_extractor", None, "KID: a .keras feature model file, or 'inception'.", **kw
    )
    flags.DEFINE_string("inception_weights", None, "KID: InceptionV3 notop weights (.h5).", **kw)
    flags.DEFINE_integer("kid_subsets", defaults.kid_subsets, "KID subsets.", **kw)
    flags.DEFINE_integer(
        "kid_subset_size", defaults.kid_subset_size, "KID images per subset.", **kw
    )


def settings_from_flags(values):
    """`Settings` from parsed flags (those `define_flags` defined).

    Raises:
      ConfigError: for a seed that is not an integer, or a flag of another kind of table
        (`--tau` given to a KID table, `--feature_extractor` to Table 1).
    """
    kind = TABLES[values.table].evaluator
    for other, names in _EVALUATION_FLAGS.items():
        given = [f"--{name}" for name in names if other != kind and values[name].present]
        if given:
            raise ConfigError(
                f"{', '.join(given)} applies to the {other} tables, not to {values.table}."
            )
    defensive = values.defensive_tau
    optional = {name: values[name].value for name in _EVALUATION_FLAGS[kind]}
    if "defensive_tau" in optional:
        optional["defensive_tau"] = defensive if defensive is not None and defensive > 0 else None
    return Settings(
        seeds=common.parse_seeds(values.seeds),
        epochs_scale=values.epochs_scale,
        quick=values.quick,
        jit_compile=values.jit_compile,
        data_dir=values.data_dir,
        num_samples=values.num_samples,
        **optional,
    )


def main(argv, row_config):
    """The body of `bin/reproduce.py`: flags -> `run_table` -> paths printed.

    Args:
      argv: the command line left after flags.
      row_config: `table -> ((dataset, row) -> ConfigDict)`, where the experiment configs
        come from (`configs.tables.row_config`).
    """
    from absl import app
    from absl import flags

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    values = flags.FLAGS
    table = values.table
    run_table(
        table,
        values.workdir,
        row_config(table),
        settings_from_flags(values),
        datasets=values.datasets,
        rows=values.rows,
        log=lambda line: print(line, flush=True),
        train_missing=not values.tables_only,
    )
    print(f"Wrote {values.workdir}/{table}.md and results.json", flush=True)
