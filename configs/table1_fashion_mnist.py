r"""Table 1, Fashion-MNIST: 290 ELBO + 10 MCMC epochs at lr 5e-4 (the paper's code; its text:
5e-3), latent 10, Bernoulli on statically binarised images (threshold 0.5), MLP 2 x 200,
batch 100.

    python bin/reproduce.py --table=table1 --workdir=runs/table1 --datasets=fashion_mnist
    python bin/train.py --config=configs/table1_fashion_mnist.py:VAE-gradHMC \
      --workdir=runs/table1_fashion_mnist_gradhmc

Rows (the argument after ':'): VAE, VAE-gradMALA, VAE-dsMALA, VAE-gradHMC, VAE-dsHMC,
VAE-MoG, VAE-VAMP (see configs/table1_rows.py).
"""

from configs import table1_rows


def get_config(row="VAE"):
    """Returns the config of one row of the table."""
    return table1_rows.table_config(
        "fashion_mnist", row, latent_dim=10, elbo_epochs=290, mcmc_epochs=10
    )
