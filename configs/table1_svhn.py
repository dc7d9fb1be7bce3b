r"""Table 1, SVHN: 290 ELBO + 10 MCMC epochs at lr 5e-4 (the paper's code; its text: 5e-3),
latent 64, discretised logistic (256 bins) with fixed s^2 = 0.1, MLP 2 x 200, batch 100;
reported in bits/dim.

    python bin/reproduce.py --table=table1 --workdir=runs/table1 --datasets=svhn
    python bin/train.py --config=configs/table1_svhn.py:VAE-gradHMC \
      --workdir=runs/table1_svhn_gradhmc

Rows (the argument after ':'): VAE, VAE-gradMALA, VAE-dsMALA, VAE-gradHMC, VAE-dsHMC,
VAE-MoG, VAE-VAMP (see configs/table1_rows.py).
"""

from configs import table1_rows


def get_config(row="VAE"):
    """Returns the config of one row of the table."""
    return table1_rows.table_config(
        "svhn",
        row,
        latent_dim=64,
        elbo_epochs=290,
        mcmc_epochs=10,
        likelihood="discretized_logistic",
        likelihood_variance=0.1,
    )
