r"""Exports a trained run as a SavedModel (default: workdir/export).

python bin/export.py --workdir=runs/demo
python bin/sample.py --saved_model=runs/demo/export --num=64 --out=grid.png
"""

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags

from tf_smvae.training import evaluate_lib
from tf_smvae.training import train_lib

flags.DEFINE_string("workdir", None, "A training run's directory.", required=True)
flags.DEFINE_string("out", None, "SavedModel directory (default: workdir/export).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    evaluate_lib.export(flags.FLAGS.workdir, flags.FLAGS.out)


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
