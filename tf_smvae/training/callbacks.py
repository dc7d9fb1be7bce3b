"""Keras callbacks of the training loop: checkpoints, metrics log, image grids."""

import json
import math
import os
import time

import keras
import numpy as np

from tf_smvae.util import images

__all__ = ["CheckpointCallback", "MetricsLogger", "SampleGrid"]


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
