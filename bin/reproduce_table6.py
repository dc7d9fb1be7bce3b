r"""Table 6 of the paper: KID of the non-linear hierarchical VAE, latent (5, 10).

    python bin/reproduce_table6.py --workdir=runs/table6 \
      --feature_extractor=runs/extractor/extractor.keras

Writes table6.md (ours beside the paper's) and results.json; every run (training
workdir, result.json, samples.png, training_curves.png) is kept under runs/, and a rerun
of the same command only trains and evaluates what is missing.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)

from tf_smvae.training import reproduce_lib

reproduce_lib.define_flags("table6")


def main(argv):
    reproduce_lib.main("table6", argv)


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
