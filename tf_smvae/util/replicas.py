"""Replica-context helpers: what a train step needs to be right under `tf.distribute`.

Every function is the identity (or draws exactly what it would draw without a
strategy) when there is one replica, so single-device numbers never change.

- `num_replicas()` / `replica_id()`: the replica count (Python int) and this replica's
  index (0 outside a multi-replica step).
- `scale_for_sum(x)`: x / R, for losses and gradients that the optimizers all-reduce by
  summation (the summed gradients then equal the gradient of the global-batch mean).
- `all_reduce_mean` / `all_reduce_sum`: statistics made identical on every replica before
  they update shared state (the beta rule, dual averaging) or are logged.
- `fold_in_replica(seed)`: a replica-distinct seed (per-replica MCMC chains).
- `batch_normal(shape, seed)`: per-example noise that depends on the example's position
  in the GLOBAL batch, so R replicas draw together exactly what one device draws.
- `split_batches_evenly(dataset, R)`: evaluation batches Keras can split over R replicas.
- `for_keras_reduction(logs)`: step logs in the shape Keras's multi-worker reduction takes.
"""

import tensorflow as tf
from absl import logging

__all__ = [
    "all_reduce_mean",
    "all_reduce_sum",
    "batch_normal",
    "fold_in_replica",
    "for_keras_reduction",
    "num_replicas",
    "replica_id",
    "scale_for_sum",
    "split_batches_evenly",
]


def _replica_context():
    """The replica context of a multi-replica step, or None."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def num_replicas():
    """Replicas in sync in the current replica context (1 outside a strategy step)."""
    context = _replica_context()
    return 1 if context is None else int(context.num_replicas_in_sync)


def replica_id():
    """This replica's index in its sync group: int32 tensor (0 without a strategy)."""
    context = _replica_context()
    if context is None:
        return tf.constant(0, tf.int32)
    return tf.cast(context.replica_id_in_sync_group, tf.int32)


def scale_for_sum(value):
    """`value / R`, ready for a summing all-reduce (gradients, losses to differentiate)."""
    count = num_replicas()
    if count == 1:
        return value
    return tf.nest.map_structure(
        lambda v: None if v is None else v * tf.cast(1.0 / count, v.dtype), value
    )


def _all_reduce(op, value):
    context = _replica_context()
    if context is None:
        return value
    return context.all_reduce(op, value)


def all_reduce_mean(value):
    """Mean over replicas of a (nest of) tensor(s); identity with one replica."""
    return _all_reduce(tf.distribute.ReduceOp.MEAN, value)


def all_reduce_sum(value):
    """Sum over replicas of a (nest of) tensor(s); identity with one replica."""
    return _all_reduce(tf.distribute.ReduceOp.SUM, value)


def for_keras_reduction(logs):
    """Step logs that Keras can reduce over the replicas of any strategy.

    Under `MultiWorkerMirroredStrategy` Keras 3 reduces a train step's outputs with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars ("Invalid reduction
    dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388). There the
    scalars are returned as [1] tensors (their mean over axis 0 is the scalar again; our
    logs are already all-reduced, so equal on every replica); elsewhere `logs` is
    returned unchanged.

    Args:
      logs: dict name -> scalar tensor.

    Returns:
      dict name -> tensor.
    """
    if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}


def fold_in_replica(seed):
    """`seed` with the replica id folded in; `seed` itself with one replica.

    Args:
      seed: int32[2] seed, the same on every replica.

    Returns:
      int32[2] seed, distinct per replica.
    """
    if num_replicas() == 1:
        return seed
    return tf.random.experimental.stateless_fold_in(seed, replica_id())


def batch_normal(shape, seed, dtype=tf.float32, alg="auto_select"):
    """Standard normal noise [B, ...] indexed by the example's place in the global batch.

    With R replicas each holding B examples (MirroredStrategy splits a global batch into
    contiguous slices), this draws the [R * B, ...] noise the global batch would get on
    one device and returns this replica's rows, so the R replicas together use exactly
    the single-device noise (R times the generation cost, negligible next to a network
    pass).

    Args:
      shape: int32 shape tensor (or list) [B, ...] of this replica's noise.
      seed: int32[2], the same on every replica.
      dtype: float dtype.
      alg: the stateless RNG algorithm (`tf.random.stateless_normal`'s `alg`).

    Returns:
      Tensor of `shape`.
    """
    count = num_replicas()
    if count == 1:
        return tf.random.stateless_normal(shape, seed=seed, dtype=dtype, alg=alg)
    shape = tf.convert_to_tensor(shape, tf.int32)
    rows = shape[0]
    noise = tf.random.stateless_normal(
        tf.concat([[rows * count], shape[1:]], 0), seed=seed, dtype=dtype, alg=alg
    )
    return noise[replica_id() * rows : (replica_id() + 1) * rows]


def split_batches_evenly(dataset, num_replicas):
    """Cuts each batch of `dataset` to a multiple of `num_replicas` examples.

    Keras 3.15 on TF 2.21 cannot evaluate a batch that does not split evenly over the
    replicas of a MirroredStrategy ("Inputs to operation AddN ... must have the same
    size and shape", keras-team/keras#19246, also for a plain Dense model). With batch
    sizes divisible by `num_replicas` only the last batch changes: its last
    `N mod num_replicas` examples are left out (a warning says so). A batch cut to
    nothing stays, empty (it splits evenly, and the VAE weights it by its 0 examples):
    dropping it would make the dataset's length unknown, and Keras would then run the
    step function once past the end and warn "Your input ran out of data". The VAE's
    logged values stay exact means over the examples used (each replica's batch mean
    is weighted by its examples).

    Args:
      dataset: a batched `tf.data.Dataset` of tensors or tuples of tensors.
      num_replicas: Python int >= 1.

    Returns:
      The dataset unchanged for one replica, else the cut one (same cardinality).
    """
    if num_replicas <= 1:
        return dataset
    logging.warning(
        "Under %d replicas up to %d example(s) at the end of an evaluation dataset are "
        "left out, so that every batch splits evenly (keras-team/keras#19246).",
        num_replicas,
        num_replicas - 1,
    )

    def cut(*batch):
        rows = (tf.shape(tf.nest.flatten(batch)[0])[0] // num_replicas) * num_replicas
        cut_batch = tf.nest.map_structure(lambda part: part[:rows], batch)
        return cut_batch[0] if len(cut_batch) == 1 else cut_batch

    return dataset.map(cut)
