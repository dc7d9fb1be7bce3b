r"""The paper's Tables 1, 2 and 6: train every row and seed, score them, tabulate.

    python bin/reproduce.py --table=table1 --workdir=runs/table1 --datasets=fashion_mnist
    python bin/reproduce.py --table=table1 --workdir=runs/table1_short --epochs_scale=0.1 \
      --seeds=0
    python bin/reproduce.py --table=table2 --workdir=runs/table2 \
      --datasets=mnist,fashion_mnist --feature_extractor=runs/extractor/extractor.keras
    python bin/reproduce.py --table=table6 --workdir=runs/table6 \
      --feature_extractor=inception --inception_weights=inception_v3_notop.h5
    python bin/reproduce.py --table=table1 --workdir=/tmp/table1 --quick \
      --datasets=fashion_mnist

Table 1 is scored by the IS log-likelihood (S = 10000, tau = 1.5; also with the defensive
mixture, `--defensive_tau`), Tables 2 and 6 by the KID of prior samples. Each row's
training config is `configs/<table>_<dataset>.py:<row>` (`configs/tables.py`).

Writes <table>.md (ours beside the paper's) and results.json; every run (training
workdir, result.json, samples.png, training_curves.png) is kept under runs/, and a rerun
of the same command only trains and evaluates what is missing.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)

from configs import tables
from tf_smvae.experiments.tables import runner

runner.define_flags()


def main(argv):
    runner.main(argv, tables.row_config)


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
