r"""Trains a model and writes checkpoints, metrics, samples and the config to --workdir.

    python bin/train.py --dataset=fashion_mnist --epochs=2 --workdir=runs/demo
    python bin/train.py --config=configs/base.py --config.train.epochs=5 --workdir=runs/base
    python bin/train.py --dataset=svhn --kernel=mala     # workdir runs/svhn-mala-<time>

Without --workdir, a new folder `runs/<dataset>-<kernel>-<YYYYmmdd-HHMMSS>` is made and
printed. Rerunning with the same --workdir after an interruption resumes from the newest
checkpoint.
"""

import datetime
import os

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags
from ml_collections import config_flags

from tf_smvae.training import flags as short_flags
from tf_smvae.training import train_lib

config_flags.DEFINE_config_file("config", _paths.BASE_CONFIG, "Config file.", lock_config=True)
flags.DEFINE_string(
    "workdir",
    None,
    "Output directory (resumes if it holds a checkpoint); default: a new "
    "runs/<dataset>-<kernel>-<time> folder, printed.",
)
short_flags.define_short_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config = short_flags.apply_short_flags(flags.FLAGS.config)
    train_lib.set_up_tensorflow(config)  # before any TensorFlow work (--cpu_devices)
    from configs import base

    workdir = flags.FLAGS.workdir or _default_workdir(config)
    train_lib.run(config, workdir, reference_config=base.get_config())


def _default_workdir(config):
    """`runs/<dataset>-<kernel>-<time>` (printed, so the run can be resumed)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = os.path.join("runs", f"{config.dataset.name}-{config.kernel.name}-{stamp}")
    print(f"workdir: {workdir} (resume with --workdir={workdir})", flush=True)
    return workdir


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
