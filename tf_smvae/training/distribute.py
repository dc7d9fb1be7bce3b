r"""`tf.distribute` strategies for training (DESIGN section 9).

    python bin/train.py --config=configs/smoke.py --strategy=mirrored --cpu_devices=2 \
      --workdir=/tmp/mirrored

`config.train.strategy` names a builder in `STRATEGIES`:
  default       `tf.distribute.get_strategy()` (one device, nothing changes);
  mirrored      `MirroredStrategy` over the logical GPUs, or the logical CPU devices when
                there is no GPU (`train.cpu_devices=N` makes N of them);
  multi_worker  `MultiWorkerMirroredStrategy`, cluster from the `TF_CONFIG` variable
                (every worker runs the same command with the same --workdir, on a
                file system that all of them see; see "Who writes" below);
  tpu           `TPUStrategy` through `TPUClusterResolver` (local / env TPU).

What the models do under a strategy with R replicas (`tf_smvae/util/replicas.py`):
each replica gets B / R examples of the global batch `train.batch_size` (Keras `fit`
splits the tf.data batches) and runs its own chains, with the replica id folded into
the chain seed; the encoder's reparameterisation noise is indexed by the example's
place in the global batch, so the ELBO phase draws exactly the single-device noise;
losses and kernel gradients are divided by R before the optimizers' summing all-reduce
(the summed gradient is the gradient of the global-batch mean); the acceptance
statistics are averaged over replicas BEFORE the beta rule and dual averaging, whose
variables (like the seed counter and the MCMC phase flag) are `only_first_replica`
variables, so beta, h, C and the dual-averaging state stay identical on every replica;
logged values are all-reduced (means; counts summed), so the logs are global;
evaluation batches are seeded by their index in the `evaluate` call, not by the
training seed counter (evaluating a dataset of unknown length, Keras runs the step
function once more than there are batches). `tests/training/test_multi_worker.py`
runs 2 local workers and 2 logical devices: both log the single-device curve to 1e-5.

Who writes (multi_worker): only the chief (the "chief" task, or worker 0 when the
cluster has no chief; `is_chief`) writes the workdir: config.json, metrics.jsonl,
samples/, tensorboard/, checkpoints/ and model.keras. Every worker restores from the
workdir's checkpoints/, so a rerun of the same commands resumes all of them from the
chief's newest checkpoint. The other workers still take part in every save (a save can
read variables whose value needs the other workers, the pattern TensorFlow's own
multi-worker guides follow) but write it under `workdir/workertemp_<task id>/`
(`worker_temp_dir`), which they delete straight after each save.

XLA: with one replica Keras compiles the whole training step (`train.jit_compile`).
With several replicas it cannot: one XLA cluster would read every replica's variables
("Trying to access resource .../replica_1 located in device CPU:1 from device CPU:0"
under MirroredStrategy on 2 logical CPU devices), so `VAE._resolve_replica_jit` turns
whole-step XLA off and compiles each replica's stateless computation (the ELBO
gradients, the chains and the generative gradients) with `tf.function(jit_compile=True)`;
the all-reduces, optimizer updates and state assignments run around it uncompiled.
A `.keras` file saved under several replicas therefore reloads with `jit_compile=False`.
"""

import os

import tensorflow as tf

from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry

__all__ = [
    "STRATEGIES",
    "check_config",
    "configure_cpu_devices",
    "is_chief",
    "make_strategy",
    "worker_temp_dir",
]

STRATEGIES = Registry("distribution strategy")


@STRATEGIES.register("default")
def _default_strategy():
    return tf.distribute.get_strategy()


@STRATEGIES.register("mirrored")
def _mirrored_strategy():
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])


@STRATEGIES.register("multi_worker")
def _multi_worker_strategy():
    return tf.distribute.MultiWorkerMirroredStrategy()


@STRATEGIES.register("tpu")
def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ConfigError(
            f"Config field 'train.strategy' is 'tpu' but no TPU could be reached: {error}"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def check_config(config):
    """Validates `train.strategy` and `train.cpu_devices` (no TensorFlow work).

    Args:
      config: a config shaped like `configs/base.py`.

    Raises:
      ConfigError: naming the bad field.
    """
    STRATEGIES.get(config.train.strategy, field="train.strategy")
    count = config.train.cpu_devices
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ConfigError(
            f"Config field 'train.cpu_devices' must be an integer >= 0 (0 leaves the CPU as "
            f"one device), got {count!r}."
        )


def configure_cpu_devices(count):
    """Splits the (first) physical CPU into `count` logical devices.

    Must run before TensorFlow initialises its runtime (before any tensor is made);
    `bin/train.py` does it first thing. Calling it again with the same count is fine.

    Args:
      count: 0 or 1 to leave the CPU alone, N >= 2 for N logical devices.

    Raises:
      ConfigError: naming `train.cpu_devices` when TensorFlow is already initialised
        with another number of logical CPU devices.
    """
    count = int(count)
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing != count:
            raise ConfigError(
                f"Config field 'train.cpu_devices' is {count}, but TensorFlow is already "
                f"initialised with {existing} logical CPU device(s); set it before any "
                "TensorFlow work (bin/train.py does), e.g. in a fresh process."
            ) from None


def make_strategy(config):
    """The strategy named by `config.train.strategy`, after `configure_cpu_devices`.

    Args:
      config: a config shaped like `configs/base.py`.

    Returns:
      A `tf.distribute.Strategy`.

    Raises:
      ConfigError: for an unknown name, a bad device count or an unreachable TPU.
    """
    check_config(config)
    configure_cpu_devices(config.train.cpu_devices)
    return STRATEGIES.get(config.train.strategy, field="train.strategy")()


def is_chief(strategy):
    """Whether this process writes the run's files (`strategy.extended.should_checkpoint`).

    True for every single-process strategy; under `MultiWorkerMirroredStrategy` true
    only for the chief task, or for worker 0 when the cluster has no chief.
    """
    return bool(strategy.extended.should_checkpoint)


def worker_temp_dir(workdir, strategy):
    """Where a non-chief worker writes its throw-away copies: `workdir/workertemp_<id>`.

    Args:
      workdir: the run's directory (shared by all workers).
      strategy: the run's strategy; `is_chief(strategy)` must be False.

    Returns:
      The directory path (not created).
    """
    return os.path.join(workdir, f"workertemp_{strategy.cluster_resolver.task_id}")
