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
from tf_smvae.training import train_lib
from tf_smvae.util import cli

flags.DEFINE_string("workdir", None, "A training run's directory.", required=True)
flags.DEFINE_bool("log_likelihood", True, "Estimate the importance-sampled log-likelihood.")
flags.DEFINE_integer("num_samples", None, "Importance samples per example (config.eval).")
flags.DEFINE_float("tau", None, "Variance inflation of the proposal (config.eval).")
flags.DEFINE_float(
    "defensive_tau",
    None,
    "A second, wider proposal for half the particles (config.eval; e.g. 5).",
)
flags.DEFINE_integer("num_examples", None, "Evaluate the first N test examples only.")
flags.DEFINE_integer("chunk_size", None, "Particles per chunk (memory bound).")
flags.DEFINE_integer("seed", None, "Evaluation seed.")
flags.DEFINE_bool("kid", False, "KID of model samples against the test split.")
flags.DEFINE_string(
    "feature_extractor",
    None,
    "KID features: a .keras classifier (bin/train_feature_extractor.py) or 'inception'.",
)
flags.DEFINE_string("inception_weights", None, "Notop InceptionV3 .h5 (for 'inception').")
flags.DEFINE_integer("kid_num_samples", None, "Model samples for KID (config.eval).")
flags.DEFINE_integer("kid_num_subsets", None, "KID subsets (config.eval).")
flags.DEFINE_integer("kid_subset_size", None, "Rows per KID subset (config.eval).")

# flag -> config.eval field it overrides.
_OVERRIDES = {
    "num_samples": "num_samples",
    "tau": "tau",
    "defensive_tau": "defensive_tau",
    "num_examples": "num_examples",
    "chunk_size": "chunk_size",
    "seed": "seed",
    "feature_extractor": "kid_feature_extractor",
    "inception_weights": "inception_weights",
    "kid_num_samples": "kid_num_samples",
    "kid_num_subsets": "kid_num_subsets",
    "kid_subset_size": "kid_subset_size",
}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    overrides = {field: flags.FLAGS[name].value for name, field in _OVERRIDES.items()}
    evaluate_lib.evaluate(
        flags.FLAGS.workdir,
        log_likelihood=flags.FLAGS.log_likelihood,
        kid=flags.FLAGS.kid,
        **overrides,
    )


if __name__ == "__main__":
    cli.run(main)
