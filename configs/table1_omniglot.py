r"""Table 1, Omniglot: 290 ELBO + 10 MCMC epochs at lr 5e-4 (the paper's code; its text: 5e-3),
latent 20, Bernoulli, MLP 2 x 200, batch 100. The paper binarised Omniglot by one Bernoulli
draw at load time; here the threshold 0.5 (static), as for the other binary datasets.

    python bin/reproduce.py --table=table1 --workdir=runs/table1 --datasets=omniglot
    python bin/train.py --config=configs/table1_omniglot.py:VAE-gradHMC \
      --workdir=runs/table1_omniglot_gradhmc

Rows (the argument after ':'): VAE, VAE-gradMALA, VAE-dsMALA, VAE-gradHMC, VAE-dsHMC,
VAE-MoG, VAE-VAMP (see configs/table1_rows.py).
"""

from configs import table1_rows


def get_config(row="VAE"):
    """Returns the config of one row of the table."""
    return table1_rows.table_config("omniglot", row, latent_dim=20, elbo_epochs=290, mcmc_epochs=10)
