r"""Trains a model and writes checkpoints, metrics, samples and the config to --workdir.

    python bin/train.py --dataset=fashion_mnist --epochs=2 --workdir=runs/demo
    python bin/train.py --config=configs/base.py --config.train.epochs=5 --workdir=runs/base

Rerunning the same command after an interruption resumes from the newest checkpoint.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags
from ml_collections import config_flags

from tf_smvae.training import flags as short_flags
from tf_smvae.training import train_lib

config_flags.DEFINE_config_file("config", _paths.BASE_CONFIG, "Config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Output directory.", required=True)
short_flags.define_short_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config = short_flags.apply_short_flags(flags.FLAGS.config)
    train_lib.set_up_tensorflow(config)  # before any TensorFlow work (--cpu_devices)
    from configs import base

    train_lib.run(config, flags.FLAGS.workdir, reference_config=base.get_config())


if __name__ == "__main__":
    from tf_smvae.util import cli

    app.run(cli.report_errors(main))
