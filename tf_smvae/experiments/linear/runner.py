"""Tables 4 and 5 of the paper: linear hierarchical VAEs with and without adaptive MCMC.

For each configuration ((n1, n2) = (10, 20) and (50, 100)), row (HVAE, gradMALA-D, dsMALA-D,
gradHMC-D, dsHMC-D, gradMALA-LT, gradHMC-LT) and seed, a `LinearGaussianHVAE` (or its MCMC
variant) is trained full batch on the simulated data (ELBO pre-training, then the MCMC phase;
the HVAE row trains by the ELBO throughout), and the learned model's kappa(Sigma_{z|x}),
kappa(C^T Sigma_{z|x}^{-1} C) and Delta log p(x) are computed in closed form.

workdir/
  runs/<config>/<row>/seed<k>.json   one finished run (a rerun skips it)
  checkpoints/<config>/<row>/seed<k>/  the run in progress (every chunk of epochs; a rerun
                                     resumes it, losing at most one chunk; removed when
                                     the run's record is written)
  results.json                       {"10,20": {"gradHMC-LT": {"delta_log_px": {"mean", "std"},
                                      "kappa_posterior": ..., "kappa_transformed": ...}}}
  table4.md, table5.md               ours beside the paper's, mean (std) over seeds

One epoch is one full-batch step (1000 points). Steps run `steps_per_execution` at a time
inside one compiled loop, so Keras' per-epoch overhead is paid once per chunk.
"""

import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import time

import keras
import ml_collections
import numpy as np
import tensorflow as tf

from tf_smvae import evaluation
from tf_smvae.data import linear_gaussian
from tf_smvae.experiments import common
from tf_smvae.experiments.linear import tables as linear_tables
from tf_smvae.model import linear_gaussian as model_lib
from tf_smvae.model.refinement import MCMCRefinement
from tf_smvae.training import callbacks as callbacks_lib
from tf_smvae.training import checkpoints
from tf_smvae.util import files

__all__ = [
    "DEFAULTS",
    "CONFIGURATIONS",
    "QUICK_CONFIGURATIONS",
    "ROWS",
    "Settings",
    "build_model",
    "run",
    "train_row",
]


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One column group of the tables: latent sizes and the paper's schedule."""

    latent_dims: tuple
    pretrain_epochs: int
    mcmc_epochs: int
    num_steps: int


CONFIGURATIONS = {
    "10,20": Configuration((10, 20), 1000, 1000, 2),
    "50,100": Configuration((50, 100), 5000, 5000, 10),
}
# Same keys and rows, a few steps each: exercises every path in seconds.
QUICK_CONFIGURATIONS = {
    "10,20": Configuration((10, 20), 4, 4, 2),
    "50,100": Configuration((50, 100), 2, 2, 2),
}

# Row name -> kernel arguments (None: no kernel, the plain HVAE).
ROWS = {
    "HVAE": None,
    "gradMALA-D": dict(kernel="mala", adaptation="speed_measure", preconditioner="diag"),
    "dsMALA-D": dict(kernel="mala", adaptation="dual_averaging", preconditioner="identity"),
    "gradHMC-D": dict(kernel="hmc", adaptation="speed_measure", preconditioner="diag"),
    "dsHMC-D": dict(kernel="hmc", adaptation="dual_averaging", preconditioner="identity"),
    "gradMALA-LT": dict(kernel="mala", adaptation="speed_measure", preconditioner="tril"),
    "gradHMC-LT": dict(kernel="hmc", adaptation="speed_measure", preconditioner="tril"),
}


DEFAULTS = ml_collections.ConfigDict(
    dict(
        num_leapfrog_steps=3,
        learning_rate=1e-3,
        kernel_learning_rate=1e-2,
        data_seed=0,
        jit_compile=True,
        max_steps_per_execution=100,
        verbose=True,
    )
)
"""The defaults of `Settings`, the one place they are written."""


def Settings(**overrides):  # noqa: N802  (called as the frozen dataclass it was)
    """What every run shares. Every field is an override of its default in `DEFAULTS`.

    Args:
      num_leapfrog_steps: L of the HMC rows.
      learning_rate: Adam on the model (paper: 1e-3).
      kernel_learning_rate: Adam on (h, C). The paper used 1e-3 for both; at 1e-3 (h, C)
        lag the narrowing posterior and MALA's acceptance collapses (BUILD_NOTES), so 1e-2.
      data_seed: seed of the simulated data (the same data for every training seed).
      jit_compile: XLA-compile the training step.
      max_steps_per_execution: upper bound of the steps run per compiled call.
      verbose: print progress lines.

    Returns:
      An `ml_collections.FrozenConfigDict`.

    Raises:
      ConfigError: for a field that does not exist.
    """
    return common.make_settings(DEFAULTS, overrides, "linear study settings")


class _Progress(keras.callbacks.Callback):
    """Prints about ten lines per run: epoch, loss, acceptance, elapsed time."""

    def __init__(self, label, steps_per_epoch, total_epochs):
        super().__init__()
        self.label, self.steps, self.total = label, steps_per_epoch, total_epochs
        self.every = max(1, total_epochs // (10 * steps_per_epoch))
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and (epoch + 1) * self.steps < self.total:
            return
        logs = logs or {}
        acceptance = logs.get("acceptance", float("nan"))  # NaN before the MCMC phase
        extra = f" acceptance {acceptance:.2f}" if np.isfinite(acceptance) else ""
        print(
            f"  {self.label}: epoch {(epoch + 1) * self.steps}/{self.total} "
            f"loss {logs.get('loss', float('nan')):.3f}{extra} {time.time() - self.start:.0f}s",
            file=sys.stderr,
            flush=True,
        )


def build_model(configuration, row, seed, image_shape, settings, steps_per_epoch):
    """Returns the compiled model of one row (its MCMC phase starts after the pre-training).

    Args:
      configuration: a `Configuration`.
      row: a key of `ROWS`.
      seed: the model seed.
      image_shape: the data's image shape.
      settings: `Settings`.
      steps_per_epoch: the steps one Keras epoch (one compiled call) runs.

    Returns:
      A compiled `LinearGaussianHVAE`, or for the MCMC rows `SpeedMeasureLinearGaussianHVAE`
      (the same model given an `MCMCRefinement`).
    """
    kernel = ROWS[row]
    kwargs = dict(image_shape=image_shape, latent_dims=configuration.latent_dims, seed=seed)
    compile_kwargs = dict(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        jit_compile=settings.jit_compile,
        steps_per_execution=steps_per_epoch,
    )
    if kernel is None:
        model = model_lib.LinearGaussianHVAE(**kwargs)
    else:
        refinement = functools.partial(
            MCMCRefinement,
            **kernel,
            num_steps=configuration.num_steps,
            num_leapfrog_steps=settings.num_leapfrog_steps,
        )
        model = model_lib.SpeedMeasureLinearGaussianHVAE(
            **kwargs,
            refinement=refinement,
            mcmc_start_epoch=configuration.pretrain_epochs // steps_per_epoch,
        )
        compile_kwargs["kernel_optimizer"] = keras.optimizers.Adam(settings.kernel_learning_rate)
    model.compile(**compile_kwargs)
    return model


def train_row(configuration, row, seed, data, settings, label="", checkpoint_dir=None):
    """Trains one row for one seed and returns its numbers.

    Args:
      configuration: a `Configuration`.
      row: a key of `ROWS`.
      seed: the model seed (initialisation and every random draw of training).
      data: the `LinearGaussianData` to fit.
      settings: `Settings`.
      label: prefix of the progress lines.
      checkpoint_dir: optional directory; the run is checkpointed there after every chunk
        of `steps_per_execution` epochs and resumed from it (model, both optimizers, the
        seed counter and the MCMC phase, so the resumed run continues the same random
        stream).

    Returns:
      `(model, record)`, the record a JSON-ready dict with the three metrics, the seconds
      spent and the seconds per epoch of each phase (`resumed_at_epoch` when it resumed).

    Raises:
      RuntimeError: if training stopped before its last epoch without diverging (e.g. a
        callback stopped it); its checkpoint is kept for a rerun.
    """
    total = configuration.pretrain_epochs + configuration.mcmc_epochs
    steps = math.gcd(
        configuration.pretrain_epochs, configuration.mcmc_epochs, settings.max_steps_per_execution
    )
    keras.utils.set_random_seed(seed)
    model = build_model(configuration, row, seed, data.image_shape, settings, steps)
    dataset = tf.data.Dataset.from_tensors(data.x).repeat()
    callbacks = [keras.callbacks.TerminateOnNaN()]
    initial_epoch = 0
    if checkpoint_dir:
        checkpoint = checkpoints.TrainingCheckpoint(model, checkpoint_dir, max_to_keep=1)
        if checkpoint.restore():
            initial_epoch = int(checkpoint.completed_epochs.numpy())
        callbacks.append(callbacks_lib.CheckpointCallback(checkpoint))
    if settings.verbose:
        callbacks.append(_Progress(label, steps, total))
    timer = _PhaseTimer(configuration.pretrain_epochs // steps)
    start = time.time()
    model.fit(
        dataset,
        epochs=total // steps,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps,
        verbose=0,
        shuffle=False,
        callbacks=[*callbacks, timer],
    )
    seconds = time.time() - start
    metrics = _metrics_or_divergence(model, data)
    if int(model.optimizer.iterations.numpy()) < total and not metrics["diverged"]:
        raise RuntimeError(
            f"{label or row}: training stopped at step {int(model.optimizer.iterations.numpy())}"
            f" of {total}; rerun to resume from {checkpoint_dir!r}."
        )
    record = dict(
        metrics,
        seconds=seconds,
        seconds_per_epoch=timer.seconds_per_epoch(steps),
        row=row,
        seed=seed,
        latent_dims=list(configuration.latent_dims),
        pretrain_epochs=configuration.pretrain_epochs,
        mcmc_epochs=configuration.mcmc_epochs,
        num_steps=configuration.num_steps,
        num_leapfrog_steps=settings.num_leapfrog_steps,
    )
    if initial_epoch:
        record["resumed_at_epoch"] = initial_epoch * steps
    return model, record


def _metrics_or_divergence(model, data):
    """The three metrics and `diverged: False`, or None metrics, `diverged: True` and why.

    A run that diverged (a non-finite weight, a posterior covariance that is no longer
    positive definite) is a result of the study, so it is recorded, not raised.
    """
    try:
        metrics = evaluation.linear_study_metrics(model, data.x, data.log_likelihood).to_dict()
    except (ValueError, np.linalg.LinAlgError) as error:
        metrics = {name: None for name in linear_tables.METRICS}
        return dict(metrics, diverged=True, divergence=str(error))
    if not all(value is None or math.isfinite(value) for value in metrics.values()):
        return dict(metrics, diverged=True, divergence=f"non-finite metrics {metrics}")
    return dict(metrics, diverged=False)


class _PhaseTimer(keras.callbacks.Callback):
    """Wall time per Keras epoch, split by phase; the first epoch of each phase (which
    compiles) is left out of the per-epoch cost when there are others."""

    def __init__(self, switch_epoch):
        super().__init__()
        self.switch = switch_epoch
        self.times = {"pretrain": [], "mcmc": []}

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        phase = "pretrain" if epoch < self.switch else "mcmc"
        self.times[phase].append(time.time() - self._start)

    def seconds_per_epoch(self, steps):
        out = {}
        for phase, times in self.times.items():
            if times:
                steady = times[1:] or times
                out[phase] = float(np.mean(steady)) / steps
                out[f"{phase}_first_call"] = float(times[0])
        return out


def _record_path(workdir, name, row, seed):
    return os.path.join(workdir, "runs", name.replace(",", "_"), row, f"seed{seed}.json")


def _checkpoint_dir(workdir, name, row, seed):
    return os.path.join(workdir, "checkpoints", name.replace(",", "_"), row, f"seed{seed}")


def run(
    workdir,
    configurations=None,
    rows=None,
    seeds=(0, 1, 2),
    settings=None,
    quick=False,
    train_missing=True,
):
    """Trains every (configuration, row, seed) not yet done and writes the tables.

    Args:
      workdir: output directory (created; finished runs in it are reused).
      configurations: keys of `CONFIGURATIONS` (default: both).
      rows: keys of `ROWS` (default: all, in the paper's order).
      seeds: training seeds.
      settings: `Settings` (default: the paper's).
      quick: use `QUICK_CONFIGURATIONS` (a few epochs each), for tests.
      train_missing: False writes the tables from the finished runs only (a study still
        running elsewhere; a cell then says how many seeds it holds when only one) and
        lists the missing runs on stderr.

    Returns:
      The results dict written to results.json.

    Raises:
      ConfigError: for an unknown configuration or row.
    """
    settings = settings or Settings()
    table = QUICK_CONFIGURATIONS if quick else CONFIGURATIONS
    configurations = list(configurations or table)
    rows = list(rows or ROWS)
    common.select(configurations, list(table), "configurations")
    common.select(rows, list(ROWS), "rows")
    records = {}
    for name in configurations:
        configuration = table[name]
        data = linear_gaussian.simulate(configuration.latent_dims, seed=settings.data_seed)
        for row in rows:
            row_records = records.setdefault(name, {}).setdefault(row, [])  # [] -> "-" cells
            for seed in seeds:
                path = _record_path(workdir, name, row, seed)
                label = f"({name}) {row} seed {seed}"
                if os.path.exists(path):
                    with open(path, encoding="utf-8") as stream:
                        record = json.load(stream)
                elif not train_missing:
                    print(f"{label}: not finished, left out", file=sys.stderr, flush=True)
                    continue
                else:
                    run_checkpoints = _checkpoint_dir(workdir, name, row, seed)
                    _, record = train_row(
                        configuration, row, seed, data, settings, label, run_checkpoints
                    )
                    files.write_json(path, record)
                    shutil.rmtree(run_checkpoints, ignore_errors=True)
                if settings.verbose:
                    print(linear_tables.summary_line(label, record), file=sys.stderr, flush=True)
                row_records.append(record)
    results = linear_tables.aggregate(records)
    files.write_json(os.path.join(workdir, "results.json"), results)
    linear_tables.write_tables(results, workdir)
    return results
