"""Resumable training checkpoints: model, optimizers and progress counters.

What a checkpoint holds: every variable of the model (weights, the seed counter
`seed_state`, and for MCMC-coupled models the MCMC phase flag, beta
(`entropy_weight`), the dual-averaging state and the kernel parameters h and C), every
optimizer the model holds (slots and iteration counters: `optimizer`, and
`kernel_optimizer` where present) and the number of completed epochs. The model
optimizer's `iterations` is the global step; with the step-indexed training stream of
`tf_smvae.data.pipeline` (batch s a pure function of (seed, s)) this is all a resumed
run needs to continue exactly as an uninterrupted one (see `train_lib`).

Atomicity: `tf.train.Checkpoint` writes a checkpoint's data and index files under a
temporary name and renames them into place, and `CheckpointManager` then replaces the
small `checkpoint` state file atomically (temp + rename). A process killed while saving
therefore leaves the previous checkpoint in force (plus, at worst, a stale
`ckpt-N_temp` folder, removed by the next `TrainingCheckpoint` on the directory).

Damaged checkpoints: `restore` tries the newest checkpoint first and falls back to the
next older one (those listed in the state file, then any other complete `ckpt-N` found
on disk, newest first) when one cannot be read (a truncated data file, an index naming
missing files, a lost or unreadable state file), warning with the file's name; when no
checkpoint can be restored it raises one `ValueError` that names every file tried and
why it failed.
"""

import glob
import os
import re
import shutil
import sys

import tensorflow as tf

from tf_smvae.util import files

__all__ = ["TrainingCheckpoint"]

_PREFIX = "ckpt"


class TrainingCheckpoint:
    """Saves and restores everything a resumed `fit` needs.

    Tracks the model (all its weights, including non-trainable state such as the
    seed counter, beta, the dual-averaging state and the MCMC phase flag), every
    optimizer the model holds (slots and iteration counters), and the number of
    completed epochs.
    """

    def __init__(self, model, directory, max_to_keep=2, scratch_directory=None):
        """Creates the checkpoint and removes stale temporary folders of killed saves.

        Args:
          model: a compiled `tf_smvae.VAE` (its optimizers are built here).
          directory: where checkpoints are written.
          max_to_keep: checkpoints kept on disk.
          scratch_directory: for a process that must take part in saves without
            writing them (a non-chief multi-worker task, `distribute.is_chief`):
            `save` writes under this folder and deletes it again, and `directory`
            is only read, by `restore`.
        """
        self.model = model
        self.directory = directory
        self.scratch_directory = scratch_directory
        self.completed_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
        optimizers = _optimizers(model)
        if not model.optimizer.built:
            model.optimizer.build(model.network_variables)
        self._checkpoint = tf.train.Checkpoint(
            model=model, completed_epochs=self.completed_epochs, **optimizers
        )
        self._manager = tf.train.CheckpointManager(
            self._checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name=_PREFIX
        )
        if scratch_directory is None:
            _remove_stale_temporaries(directory)

    @property
    def latest(self):
        """Path prefix of the newest checkpoint, or None."""
        return self._manager.latest_checkpoint

    def candidates(self):
        """Checkpoint prefixes to try on restore, newest first.

        Returns:
          The state file's checkpoints (newest first), then any other `ckpt-N` whose
          index file exists on disk, by N descending.
        """
        listed = [self.latest] if self.latest else []
        listed += [path for path in reversed(self._manager.checkpoints) if path not in listed]
        found = []
        for index in glob.glob(os.path.join(self.directory, f"{_PREFIX}-*.index")):
            match = re.fullmatch(rf"{_PREFIX}-(\d+)\.index", os.path.basename(index))
            if match:
                found.append((int(match.group(1)), index[: -len(".index")]))
        listed_paths = {os.path.abspath(path) for path in listed}
        for _, path in sorted(found, reverse=True):
            if os.path.abspath(path) not in listed_paths:
                listed.append(path)
        return listed

    def save(self, step):
        """Writes a checkpoint numbered `step`.

        Returns:
          Its path prefix, or None when the save went to the scratch directory.
        """
        if self.scratch_directory is None:
            return self._manager.save(checkpoint_number=int(step))
        with files.discarded_directory(self.scratch_directory) as scratch:
            self._checkpoint.write(os.path.join(scratch, f"{_PREFIX}-{int(step)}"))
        return None

    def restore(self, path=None):
        """Restores `path`, or the newest checkpoint that can be read.

        Args:
          path: a checkpoint prefix; None tries `candidates()` newest first, falling
            back past checkpoints that cannot be read.

        Returns:
          The restored path prefix, or None when there is nothing to restore.

        Raises:
          ValueError: naming every checkpoint tried when none can be read or matches
            the model.
        """
        paths = [path] if path else self.candidates()
        if not paths:
            return None
        failures = []
        for candidate in paths:
            error = self._try_restore(candidate)
            if error is None:
                if failures:
                    _warn(f"Resuming from the older checkpoint {candidate!r}.")
                return candidate
            _warn(f"Cannot restore checkpoint {candidate!r}: {error}")
            failures.append(f"{candidate!r}: {error}")
        raise ValueError(
            f"Cannot restore any checkpoint in {self.directory!r} into this model: "
            + "; ".join(failures)
            + f". Delete {self.directory!r} or use another --workdir."
        )

    def _try_restore(self, path):
        """Restores `path`; returns None, or a one-line description of the failure."""
        missing = _missing_files(path)
        if missing:
            return f"missing file(s) {', '.join(repr(name) for name in missing)}"
        try:
            status = self._checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError, IndexError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return f"{type(error).__name__}: {first_line} (files {path}.index / .data-*)"
        return None


def _missing_files(path):
    """The index file of `path` if absent, else the data shards absent from disk."""
    if not tf.io.gfile.exists(f"{path}.index"):
        return [f"{path}.index"]
    shards = glob.glob(f"{glob.escape(path)}.data-*-of-*")
    if not shards:
        return [f"{path}.data-00000-of-00001"]
    total = int(shards[0].rsplit("-of-", 1)[1])
    expected = [f"{path}.data-{i:05d}-of-{total:05d}" for i in range(total)]
    return [name for name in expected if not os.path.exists(name)]


def _remove_stale_temporaries(directory):
    """Removes `ckpt-N_temp` folders left by a save that was killed."""
    for temporary in glob.glob(os.path.join(directory, f"{_PREFIX}-*_temp")):
        shutil.rmtree(temporary, ignore_errors=True)


def _warn(message):
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def _optimizers(model):
    """Every optimizer attribute of the model, keyed by attribute name."""
    found = {"optimizer": model.optimizer}
    kernel_optimizer = getattr(model, "kernel_optimizer", None)
    if kernel_optimizer is not None:
        found["kernel_optimizer"] = kernel_optimizer
    return found
