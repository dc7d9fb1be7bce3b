"""Keras callbacks of the training loop: checkpoints, metrics log, image grids, kernel
diagnostics for TensorBoard."""

import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tf_smvae.evaluation import condition_numbers
from tf_smvae.util import images

__all__ = ["CheckpointCallback", "KernelDiagnostics", "MetricsLogger", "SampleGrid", "heat_map"]


class CheckpointCallback(keras.callbacks.Callback):
    """Saves a `TrainingCheckpoint` every N steps and at the end of every epoch.

    Checkpoints are numbered by the model optimizer's step, so a resumed run saves at the
    same steps as an uninterrupted one. The last batch of an epoch saves only at the
    epoch end (after validation, with the completed-epoch counter advanced). A step or
    epoch whose loss is not finite is not saved, so the newest checkpoint stays finite.
    """

    def __init__(self, checkpoint, every_steps=0):
        """Creates the callback.

        Args:
          checkpoint: a `tf_smvae.training.checkpoints.TrainingCheckpoint`.
          every_steps: also save after every N-th optimizer step (0: epoch ends only).
        """
        super().__init__()
        self.checkpoint = checkpoint
        self.every_steps = int(every_steps)

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        last_of_epoch = batch + 1 == self.params.get("steps")
        if not self.every_steps or last_of_epoch or not _finite_loss(logs):
            return
        step = self._step()
        if step % self.every_steps == 0:
            self.checkpoint.save(step)

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_loss(logs):
            return
        self.checkpoint.completed_epochs.assign(epoch + 1)
        self.checkpoint.save(self._step())


def _finite_loss(logs):
    """False when `logs` holds a NaN or infinite "loss"."""
    loss = (logs or {}).get("loss")
    return loss is None or bool(np.all(np.isfinite(np.asarray(loss, np.float64))))


class MetricsLogger(keras.callbacks.Callback):
    """Appends one JSON line per epoch (epoch, step, seconds, every logged metric)."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        record = {
            "epoch": epoch + 1,
            "step": int(self.model.optimizer.iterations.numpy()),
            "seconds": round(time.time() - self._start, 3),
        }
        for name, value in (logs or {}).items():
            value = float(np.asarray(value))
            record[name] = value if math.isfinite(value) else str(value)
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")


class SampleGrid(keras.callbacks.Callback):
    """Writes PNG grids of prior samples and of reconstructions after every epoch.

    The same seed and the same held-out images are used every epoch, so successive
    grids show how the model changes.
    """

    def __init__(self, directory, reference_images, num_samples=64, seed=0):
        """Creates the callback.

        Args:
          directory: where `samples_epochNNNN.png` and `reconstructions_epochNNNN.png` go.
          reference_images: array [N, H, W, C] of images to reconstruct.
          num_samples: prior samples per grid.
          seed: sampling seed.
        """
        super().__init__()
        self.directory = directory
        self.reference_images = np.asarray(reference_images, np.float32)
        self.num_samples = int(num_samples)
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        if self.num_samples <= 0:
            return
        tag = f"epoch{epoch + 1:04d}"
        samples = self.model.sample(self.num_samples, seed=self.seed).numpy()
        images.write_png(
            os.path.join(self.directory, f"samples_{tag}.png"), images.image_grid(samples)
        )
        reconstructions = self.model.reconstruct(self.reference_images).numpy()
        pairs = np.concatenate([self.reference_images, reconstructions], axis=0)
        columns = self.reference_images.shape[0]
        images.write_png(
            os.path.join(self.directory, f"reconstructions_{tag}.png"),
            images.image_grid(pairs, num_columns=columns),
        )


def heat_map(matrix):
    """|M| as a [1, H, W, 1] image in [0, 1] (0: zero, 1: the largest |entry|)."""
    magnitude = np.abs(np.asarray(matrix, np.float64))
    top = magnitude.max() if magnitude.size and np.isfinite(magnitude).all() else 0.0
    scaled = magnitude / top if top > 0 else magnitude
    return scaled.astype(np.float32)[np.newaxis, :, :, np.newaxis]


class KernelDiagnostics(keras.callbacks.Callback):
    """TensorBoard diagnostics of the learned kernel, per epoch of the MCMC phase.

    Writes under `directory` (e.g. `tensorboard/kernel`):
    - `kernel/condition_number`: kappa(C) = sigma_max / sigma_min of the preconditioner
      (1 for the identity). A growing kappa means C stretches some directions more.
    - `kernel/dropped_grad_fraction`: the epoch's dropped kernel gradients (non-finite
      transitions) per step.
    - `kernel/squared_jump`: mean ||z_K - z_0||^2 of the epoch's chains (the model's
      `squared_jump` metric): near 0, the chains do not move.
    - `kernel/scale`: an image of |C| (a heat map of the tril; a diagonal for diag) and a
      histogram of diag(C).
    Epochs before the MCMC phase, and models without a kernel, write nothing.
    """

    def __init__(self, directory):
        """Args: directory: the summary directory."""
        super().__init__()
        self.directory = directory
        self._writer = None

    def _active(self):
        return getattr(self.model, "_mcmc_active", False) and (
            getattr(self.model, "refinement", None) is not None
        )

    def on_epoch_end(self, epoch, logs=None):
        if not self._active():
            return
        logs = logs or {}
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.directory)
        scale = self.model.refinement.kernel_parameters.dense_scale_tril().numpy()
        steps = self.params.get("steps") or 1
        with self._writer.as_default(step=epoch + 1):
            if np.all(np.isfinite(scale)):
                kappa = condition_numbers.condition_number(scale)
                tf.summary.scalar("kernel/condition_number", kappa)
                tf.summary.image("kernel/scale", heat_map(scale))
                tf.summary.histogram("kernel/scale_diag", np.diag(scale))
            dropped = float(logs.get("dropped_kernel_grads", 0.0))
            tf.summary.scalar("kernel/dropped_grad_fraction", dropped / steps)
            if "squared_jump" in logs:
                tf.summary.scalar("kernel/squared_jump", float(logs["squared_jump"]))
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
