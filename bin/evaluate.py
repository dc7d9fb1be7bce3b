r"""Evaluates a trained run on its test split and merges the results into workdir/eval.json.

python bin/evaluate.py --workdir=runs/demo --num_samples=1000
python bin/evaluate.py --workdir=runs/demo --nolog_likelihood --kid \
  --feature_extractor=runs/extractor/extractor.keras   # KID only (bin/train_feature_extractor.py)

Keys already in eval.json that a call does not compute are kept.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags

from tf_smvae.training import evaluate_lib
from tf_smvae.training import flags as short_flags
from tf_smvae.training import train_lib
from tf_smvae.util import cli

flags.DEFINE_string("workdir", None, "A training run's directory.", required=True)
flags.DEFINE_bool("log_likelihood", True, "Estimate the importance-sampled log-likelihood.")
flags.DEFINE_bool("kid", False, "KID of model samples against the test split.")
short_flags.define_short_flags(table=short_flags.EVAL_FLAGS)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    overrides = short_flags.given_fields(short_flags.EVAL_FLAGS, "eval")
    evaluate_lib.evaluate(
        flags.FLAGS.workdir,
        log_likelihood=flags.FLAGS.log_likelihood,
        kid=flags.FLAGS.kid,
        **overrides,
    )


if __name__ == "__main__":
    cli.run(main)
