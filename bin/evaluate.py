r"""Estimates the held-out log-likelihood of a trained run and writes workdir/eval.json.

python bin/evaluate.py --workdir=runs/demo --num_samples=1000
"""

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags

from tf_smvae.training import evaluate_lib
from tf_smvae.training import train_lib

flags.DEFINE_string("workdir", None, "A training run's directory.", required=True)
flags.DEFINE_integer("num_samples", None, "Importance samples per example (config.eval).")
flags.DEFINE_float("tau", None, "Variance inflation of the proposal (config.eval).")
flags.DEFINE_integer("num_examples", None, "Evaluate the first N test examples only.")
flags.DEFINE_integer("chunk_size", None, "Particles per chunk (memory bound).")
flags.DEFINE_integer("seed", None, "Evaluation seed.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    names = ("num_samples", "tau", "num_examples", "chunk_size", "seed")
    overrides = {name: flags.FLAGS[name].value for name in names}
    evaluate_lib.evaluate(flags.FLAGS.workdir, **overrides)


if __name__ == "__main__":
    app.run(main)
