r"""Table 1 of the paper: IS log-likelihood (S = 10000, tau = 1.5), VAEs with and without MCMC.

    python bin/reproduce_table1.py --workdir=runs/table1 --datasets=fashion_mnist
    python bin/reproduce_table1.py --workdir=runs/table1_short --epochs_scale=0.1 --seeds=0
    python bin/reproduce_table1.py --workdir=/tmp/table1 --quick --datasets=fashion_mnist

Writes table1.md (ours beside the paper's) and results.json; every run (training
workdir, result.json, samples.png, training_curves.png) is kept under runs/, and a rerun
of the same command only trains and evaluates what is missing.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)

from tf_smvae.training import reproduce_lib

reproduce_lib.define_flags("table1")


def main(argv):
    reproduce_lib.main("table1", argv)


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
