"""Resumable training checkpoints: model, optimizers and progress counters.

TensorFlow's `CheckpointManager` writes a checkpoint's data files first and then
replaces the small `checkpoint` index file atomically, so a process killed while
saving leaves the previous checkpoint in force.
"""

import os

import tensorflow as tf

__all__ = ["TrainingCheckpoint"]


class TrainingCheckpoint:
    """Saves and restores everything a resumed `fit` needs.

    Tracks the model (all its weights, including non-trainable state such as the
    seed counter), every optimizer the model holds, and the number of completed
    epochs.
    """

    def __init__(self, model, directory, max_to_keep=2):
        """Creates the checkpoint.

        Args:
          model: a compiled `tf_smvae.VAE` (its optimizers are built here).
          directory: where checkpoints are written.
          max_to_keep: checkpoints kept on disk.
        """
        self.model = model
        self.directory = directory
        self.completed_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
        optimizers = _optimizers(model)
        if not model.optimizer.built:
            model.optimizer.build(model.network_variables)
        self._checkpoint = tf.train.Checkpoint(
            model=model, completed_epochs=self.completed_epochs, **optimizers
        )
        self._manager = tf.train.CheckpointManager(
            self._checkpoint, directory, max_to_keep=max_to_keep
        )

    @property
    def latest(self):
        """Path prefix of the newest checkpoint, or None."""
        return self._manager.latest_checkpoint

    def save(self, step):
        """Writes a checkpoint numbered `step`; returns its path prefix."""
        return self._manager.save(checkpoint_number=int(step))

    def restore(self, path=None):
        """Restores `path` (default: the newest checkpoint).

        Returns:
          The restored path prefix, or None when there is nothing to restore.

        Raises:
          ValueError: naming the checkpoint when it cannot be read or does not match
            the model.
        """
        path = path or self.latest
        if path is None:
            return None
        try:
            status = self._checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as error:
            raise ValueError(
                f"Cannot restore checkpoint {path!r} into this model: {error}. Delete "
                f"{os.path.dirname(path)!r} or use another --workdir."
            ) from None
        return path


def _optimizers(model):
    """Every optimizer attribute of the model, keyed by attribute name."""
    found = {"optimizer": model.optimizer}
    kernel_optimizer = getattr(model, "kernel_optimizer", None)
    if kernel_optimizer is not None:
        found["kernel_optimizer"] = kernel_optimizer
    return found
