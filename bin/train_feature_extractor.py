r"""Trains a classifier on a dataset as the KID feature extractor; writes --out/extractor.keras.

    python bin/train_feature_extractor.py --config=configs/feature_extractor.py \
      --out=runs/extractor_fashion_mnist --config.dataset.name=fashion_mnist

--out/extractor.json records the dataset, the test accuracy, the feature layer, the image
shape and this command. Use it with `bin/evaluate.py --kid --feature_extractor=<the .keras>`.
"""

import os
import shlex
import sys

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags
from ml_collections import config_flags

from tf_smvae.evaluation import classifier
from tf_smvae.training import train_lib

config_flags.DEFINE_config_file(
    "config",
    os.path.join(_paths.ROOT, "configs", "feature_extractor.py"),
    "Config file.",
    lock_config=True,
)
flags.DEFINE_string("out", None, "Output directory.", required=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    command = shlex.join([os.path.basename(sys.executable), *sys.argv])
    summary = classifier.train_feature_extractor(flags.FLAGS.config, flags.FLAGS.out, command)
    print(
        f"Test accuracy {summary['test_accuracy']:.4f} on {summary['num_test_examples']} "
        f"{summary['dataset']} test images ({summary['epochs_run']} epochs). "
        f"Wrote {summary['model_path']} and extractor.json",
        flush=True,
    )


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
