"""The training loop behind `bin/train.py`: config -> data + model -> fit -> workdir.

workdir/
  config.json        the resolved config
  checkpoints/       resumable checkpoints (every N steps and at every epoch end)
  tensorboard/       TensorBoard logs
  metrics.jsonl      one line per epoch
  samples/           PNG grids of prior samples and reconstructions per epoch
  model.keras        the final model, for `keras.models.load_model`
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


def _write_config(config, paths):
    """Writes config.json, or checks that a resumed run uses the same config."""
    resolved = json.loads(config.to_json_best_effort())
    if os.path.exists(paths.config):
        with open(paths.config, encoding="utf-8") as stream:
            previous = json.load(stream)
        changed = files.changed_fields(previous, resolved, _RESUMABLE_CHANGES)
        if changed:
            details = files.describe_changes(previous, resolved, changed)
            raise ConfigError(
                f"{paths.workdir!r} holds a run with a different config ({details}). "
                "Rerun with the same settings to resume, or use a new --workdir."
            )
    files.write_json(paths.config, resolved, sort_keys=True)


def load_config(workdir):
    """The resolved config of a run, read from `workdir/config.json`.

    Raises:
      FileNotFoundError: naming the missing file.
    """
    path = RunPaths(workdir).config
    if not os.path.exists(path):
        raise FileNotFoundError(f"No training run in {workdir!r}: {path!r} does not exist.")
    with open(path, encoding="utf-8") as stream:
        return ml_collections.ConfigDict(json.load(stream))


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


def _callbacks(config, paths, model, checkpoint, test):
    every = config.train.checkpoint_every_steps
    return [
        callbacks_lib.CheckpointCallback(checkpoint, every_steps=every),
        callbacks_lib.MetricsLogger(paths.metrics),
        callbacks_lib.SampleGrid(
            paths.samples,
            _reference_images(test),
            num_samples=config.train.num_sample_images,
            seed=config.seed,
        ),
        keras.callbacks.TensorBoard(paths.tensorboard, update_freq="epoch"),
        keras.callbacks.TerminateOnNaN(),
    ]


def _steps_per_epoch(config, train):
    if config.train.steps_per_epoch:
        return config.train.steps_per_epoch
    steps = int(train.cardinality())
    if steps < 1:
        raise ValueError(
            "The training set is empty or of unknown length; set train.steps_per_epoch."
        )
    return steps


def _fit(model, train, config, completed_epochs, fit_kwargs):
    """Runs the epochs still to do; a checkpoint from mid-epoch first finishes that epoch.

    The optimizer's step counter says how far into the interrupted epoch the checkpoint
    was, so a resumed run takes exactly as many optimizer steps as an uninterrupted one
    (the interrupted epoch's remaining batches come from a fresh pass over the data).
    """
    steps_per_epoch = _steps_per_epoch(config, train)
    done = int(model.optimizer.iterations.numpy()) - completed_epochs * steps_per_epoch
    history = None
    if 0 < done < steps_per_epoch and completed_epochs < config.train.epochs:
        history = model.fit(
            train,
            epochs=completed_epochs + 1,
            initial_epoch=completed_epochs,
            steps_per_epoch=steps_per_epoch - done,
            **fit_kwargs,
        )
        completed_epochs += 1
    if completed_epochs < config.train.epochs:
        history = model.fit(
            train,
            epochs=config.train.epochs,
            initial_epoch=completed_epochs,
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
    paths = RunPaths(workdir)
    os.makedirs(workdir, exist_ok=True)
    _write_config(config, paths)
    keras.utils.set_random_seed(config.seed)
    train, test, image_shape = builders.build_datasets(config)
    model = builders.build_model(config, image_shape)
    builders.compile_model(model, config)
    checkpoint = checkpoints.TrainingCheckpoint(
        model, paths.checkpoints, max_to_keep=config.train.keep_checkpoints
    )
    restored = checkpoint.restore()
    if restored:
        print(f"Resuming from {restored}.", flush=True)
    fit_kwargs = dict(
        validation_data=test,
        shuffle=False,  # the pipeline shuffles, seeded
        callbacks=_callbacks(config, paths, model, checkpoint, test),
        verbose=config.train.verbose,
    )
    history = _fit(model, train, config, int(checkpoint.completed_epochs.numpy()), fit_kwargs)
    _check_finite(history, paths)
    model.save(paths.model)
    _report(paths)
    return model


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


def set_up_tensorflow():
    """Quiet logs and let TensorFlow grow GPU memory instead of taking it all."""
    tf.get_logger().setLevel("ERROR")
    absl_logging.set_verbosity(absl_logging.WARNING)
    for device in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(device, True)
