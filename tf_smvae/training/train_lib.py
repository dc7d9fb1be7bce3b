"""The training loop behind `bin/train.py`: config -> data + model -> fit -> workdir.

workdir/
  config.json        the resolved config
  checkpoints/       resumable checkpoints (every N steps and at every epoch end)
  tensorboard/       TensorBoard logs
  metrics.jsonl      one line per epoch
  samples/           PNG grids of prior samples and reconstructions per epoch
  model.keras        the final model, for `keras.models.load_model`

Resumption (what is guaranteed): a run killed at any moment (SIGKILL included) and
rerun with the same command continues from its newest readable checkpoint, losing at
most `train.checkpoint_every_steps` steps (or one epoch when that is 0), and then
computes what the uninterrupted run would have: the checkpoint holds every model
variable (weights, seed counter, MCMC phase, beta, dual-averaging state, h and C) and
both optimizers (slots, iteration counters), and the training data is a stream whose
batch s (order, per-batch binarization seed) is a pure function of (seed, s), started
at the restored optimizer step (`_fit`). On the same machine and software the final
weights match an uninterrupted run's (tests/training/test_resume.py measures it). Not
replayed: the Keras epoch metrics of an interrupted epoch average only the steps run
after the resumption, and the TensorBoard log keeps the killed run's partial events.
"""

import json
import os

import keras
import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging as absl_logging

from tf_smvae.training import builders
from tf_smvae.training import callbacks as callbacks_lib
from tf_smvae.training import checkpoints
from tf_smvae.training import distribute
from tf_smvae.training import validation
from tf_smvae.util import files
from tf_smvae.util.errors import ConfigError

__all__ = ["RunPaths", "load_config", "restore_model", "run"]

# Fields that may change between a run and its resumption.
_RESUMABLE_CHANGES = ("train.epochs", "train.verbose")


class RunPaths:
    """The files of a workdir."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.config = os.path.join(workdir, "config.json")
        self.checkpoints = os.path.join(workdir, "checkpoints")
        self.tensorboard = os.path.join(workdir, "tensorboard")
        self.metrics = os.path.join(workdir, "metrics.jsonl")
        self.samples = os.path.join(workdir, "samples")
        self.model = os.path.join(workdir, "model.keras")
        self.eval = os.path.join(workdir, "eval.json")
        self.export = os.path.join(workdir, "export")


def _write_config(config, paths, chief=True):
    """Writes config.json, or checks that a resumed run uses the same config.

    A non-chief worker (`chief=False`) only checks the chief's file, when it exists.
    """
    resolved = json.loads(config.to_json_best_effort())
    if os.path.exists(paths.config):
        previous = _read_config(paths.config)
        changed = files.changed_fields(previous, resolved, _RESUMABLE_CHANGES, ignore_added=True)
        if changed:
            details = files.describe_changes(previous, resolved, changed)
            raise ConfigError(
                f"{paths.workdir!r} holds a run with a different config ({details}). "
                "Rerun with the same settings to resume, or use a new --workdir."
            )
    if chief:
        files.write_json(paths.config, resolved, sort_keys=True)


def _read_config(path):
    """The JSON dict of a run's config.json; ConfigError naming the file if unreadable."""
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{path!r} is not a readable config ({error}); restore it from a copy or start "
            "a new --workdir."
        ) from None


def load_config(workdir):
    """The resolved config of a run, read from `workdir/config.json`.

    Raises:
      FileNotFoundError: naming the missing file.
      ConfigError: naming the file when it is not valid JSON.
    """
    path = RunPaths(workdir).config
    if not os.path.exists(path):
        raise FileNotFoundError(f"No training run in {workdir!r}: {path!r} does not exist.")
    return ml_collections.ConfigDict(_read_config(path))


def restore_model(workdir, image_shape=None):
    """Rebuilds a run's model from its config and restores its newest checkpoint.

    Args:
      workdir: a training run's directory.
      image_shape: (H, W, C); read from the data when None.

    Returns:
      `(config, model)`.

    Raises:
      FileNotFoundError: when the workdir has no config or no checkpoint.
    """
    config = load_config(workdir)
    if image_shape is None:
        _, _, image_shape = builders.build_datasets(config)
    model = builders.build_model(config, image_shape)
    builders.compile_model(model, config)
    paths = RunPaths(workdir)
    restored = checkpoints.TrainingCheckpoint(model, paths.checkpoints).restore()
    if restored is None:
        raise FileNotFoundError(f"No checkpoint in {paths.checkpoints!r} to restore.")
    return config, model


def _reference_images(test, num=8):
    images = next(iter(test.unbatch().batch(num)))
    return images[0] if isinstance(images, tuple) else images


def _callbacks(config, paths, checkpoint, test, chief=True):
    """The fit callbacks; only the chief (`distribute.is_chief`) logs and draws grids."""
    every = config.train.checkpoint_every_steps
    callbacks = [callbacks_lib.CheckpointCallback(checkpoint, every_steps=every)]
    if chief:
        callbacks += [
            callbacks_lib.MetricsLogger(paths.metrics),
            callbacks_lib.SampleGrid(
                paths.samples,
                _reference_images(test),
                num_samples=config.train.num_sample_images,
                seed=config.seed,
            ),
            keras.callbacks.TensorBoard(paths.tensorboard, update_freq="epoch"),
            callbacks_lib.KernelDiagnostics(os.path.join(paths.tensorboard, "kernel")),
        ]
    return callbacks + [keras.callbacks.TerminateOnNaN()]


def _steps_per_epoch(config, train):
    if config.train.steps_per_epoch:
        return config.train.steps_per_epoch
    steps = int(train.cardinality())
    if steps < 1:
        raise ValueError(
            "The training set is empty or of unknown length; set train.steps_per_epoch."
        )
    return steps


def _fit(model, config, steps_per_epoch, fit_kwargs):
    """Runs the epochs still to do, replaying exactly the batches of an uninterrupted run.

    The model optimizer's step counter s is the position in the run: epoch s // S at
    step s % S (S steps per epoch). A checkpoint from mid-epoch first finishes that epoch
    with its remaining steps in one `fit`, then the remaining epochs run in a second.
    Each `fit` gets the training stream started at the current step (`builders.build_train_stream`;
    Keras keeps one iterator over an infinite dataset across the epochs of one `fit`),
    so the resumed run sees the same batches, order and binarization noise, and takes
    as many optimizer steps, as an uninterrupted run.

    Args:
      model: the compiled (and possibly restored) model.
      config: the run's config.
      steps_per_epoch: S (`_steps_per_epoch`).
      fit_kwargs: further `fit` arguments.

    Returns:
      The last `fit`'s history, or None when nothing was left to do.
    """
    epoch, done = divmod(int(model.optimizer.iterations.numpy()), steps_per_epoch)
    history = None
    if done and epoch < config.train.epochs:
        history = model.fit(
            builders.build_train_stream(config, epoch * steps_per_epoch + done),
            epochs=epoch + 1,
            initial_epoch=epoch,
            steps_per_epoch=steps_per_epoch - done,
            **fit_kwargs,
        )
        epoch += 1
        if model.stop_training:
            return history
    if epoch < config.train.epochs:
        history = model.fit(
            builders.build_train_stream(config, epoch * steps_per_epoch),
            epochs=config.train.epochs,
            initial_epoch=epoch,
            steps_per_epoch=steps_per_epoch,
            **fit_kwargs,
        )
    return history


def _check_finite(history, paths):
    if history is None:
        return
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise FloatingPointError(
            f"Training stopped: the loss became {losses[-1]}. The last finite checkpoint is "
            f"in {paths.checkpoints!r}; lower the learning rate or check the data."
        )


def run(config, workdir, reference_config=None):
    """Trains `config` in `workdir`, resuming from its newest checkpoint if any.

    Args:
      config: an `ml_collections.ConfigDict` shaped like `configs/base.py`.
      workdir: output directory (created).
      reference_config: optional base config for the unknown-key check.

    Returns:
      The trained model.

    Raises:
      ConfigError: for a bad or changed config, before any work.
    """
    validation.validate_config(config, reference_config)
    distribute.check_config(config)
    strategy = distribute.make_strategy(config)  # first: may split the CPU into devices
    # The data is read and checked before anything is written to the workdir. The global
    # batch is train.batch_size; Keras fit splits it over the replicas.
    train, test, image_shape = builders.build_datasets(config, strategy.num_replicas_in_sync)
    steps_per_epoch = _steps_per_epoch(config, train)
    paths = RunPaths(workdir)
    chief = distribute.is_chief(strategy)
    scratch = None if chief else distribute.worker_temp_dir(workdir, strategy)
    os.makedirs(workdir, exist_ok=True)
    _write_config(config, paths, chief)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = builders.build_model(config, image_shape)
        builders.compile_model(model, config, steps_per_epoch)
        checkpoint = checkpoints.TrainingCheckpoint(
            model,
            paths.checkpoints,
            max_to_keep=config.train.keep_checkpoints,
            scratch_directory=scratch,
        )
        restored = checkpoint.restore()
    if restored:
        print(f"Resuming from {restored}.", flush=True)
    fit_kwargs = dict(
        validation_data=test,
        shuffle=False,  # the pipeline shuffles, seeded
        callbacks=_callbacks(config, paths, checkpoint, test, chief),
        verbose=config.train.verbose,
    )
    history = _fit(model, config, steps_per_epoch, fit_kwargs)
    _check_finite(history, paths)
    _save_model(model, paths, scratch)
    if chief:
        _report(paths)
    return model


def _save_model(model, paths, scratch=None):
    """Saves model.keras; a non-chief worker saves into `scratch` and deletes it."""
    if scratch is None:
        model.save(paths.model)
        return
    with files.discarded_directory(scratch) as folder:
        model.save(os.path.join(folder, os.path.basename(paths.model)))


def _report(paths):
    print(
        "\n".join(
            [
                f"Training outputs in {paths.workdir}:",
                f"  config        {paths.config}",
                f"  checkpoints   {paths.checkpoints}",
                f"  metrics       {paths.metrics}",
                f"  samples       {paths.samples}",
                f"  tensorboard   {paths.tensorboard}",
                f"  keras model   {paths.model}",
            ]
        ),
        flush=True,
    )


def set_up_tensorflow(config=None):
    """Quiet logs, let TensorFlow grow GPU memory, and split the CPU if `config` asks.

    Call it before any TensorFlow work: logical CPU devices (`train.cpu_devices`) and GPU
    memory growth can only be set before TensorFlow initialises.

    Args:
      config: optional config; its `train.cpu_devices` is applied.

    Raises:
      ConfigError: for a bad `train.cpu_devices` or `train.strategy`.
    """
    if config is not None:
        distribute.check_config(config)
        distribute.configure_cpu_devices(config.train.cpu_devices)
    tf.get_logger().setLevel("ERROR")
    absl_logging.set_verbosity(absl_logging.WARNING)
    for device in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(device, True)
