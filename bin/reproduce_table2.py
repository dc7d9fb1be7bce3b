r"""Table 2 of the paper: KID of prior samples of VAEs with and without adaptive MCMC.

    python bin/reproduce_table2.py --workdir=runs/table2 --datasets=mnist,fashion_mnist \
      --feature_extractor=runs/extractor/extractor.keras
    python bin/reproduce_table2.py --workdir=runs/table2 --feature_extractor=inception \
      --inception_weights=inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5

Writes table2.md (ours beside the paper's) and results.json; every run (training
workdir, result.json, samples.png, training_curves.png) is kept under runs/, and a rerun
of the same command only trains and evaluates what is missing.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)

from tf_smvae.training import reproduce_lib

reproduce_lib.define_flags("table2")


def main(argv):
    reproduce_lib.main("table2", argv)


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
