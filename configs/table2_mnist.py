r"""Table 2 (KID), MNIST: 100 ELBO + 50 MCMC epochs at lr 5e-4 (the paper's code; its text:
1e-3), latent 10, Bernoulli on statically binarised images, MLP 2 x 200, batch 100.

    python bin/reproduce.py --table=table2 --workdir=runs/table2 --datasets=mnist \
      --feature_extractor=runs/extractor/extractor.keras
    python bin/train.py --config=configs/table2_mnist.py:VAE-gradHMC \
      --workdir=runs/table2_mnist_gradhmc

Rows (the argument after ':'): VAE, VAE-gradHMC, VAE-dsHMC, VAE-MoG, VAE-VAMP (see
configs/table1_rows.py).
"""

from configs import table1_rows


def get_config(row="VAE"):
    """Returns the config of one row of the table."""
    return table1_rows.table_config("mnist", row, latent_dim=10, elbo_epochs=100, mcmc_epochs=50)
