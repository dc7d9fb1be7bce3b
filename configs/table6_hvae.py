r"""Table 6: the non-linear hierarchical VAE (latent (5, 10)), with and without adaptive MCMC.

    python bin/reproduce.py --table=table6 --workdir=runs/table6 \
      --feature_extractor=runs/extractor/extractor.keras
    python bin/train.py --config=configs/table6_hvae.py:gradHMC-LT --workdir=runs/table6_gradhmc_lt

Top-down hVAE with two stochastic layers (5 then 10 units), MLP 2 x 200 encoder and
decoder, Bernoulli likelihood on continuous grey levels (no binarisation), 190 ELBO + 10
MCMC epochs at lr 1e-3 (kernel lr 1e-3), batch 100, MNIST by default
(`--config.dataset.name=fashion_mnist` for the other column). Rows (the argument after
':'): HVAE (no MCMC), gradMALA-D, dsMALA-D, gradHMC-D, dsHMC-D, gradMALA-LT, gradHMC-LT;
D = diagonal preconditioner, LT = lower-triangular, "ds" = dual-averaged scalar step size
(identity preconditioner). MCMC rows use K = 10 transitions (HMC: L = 2).
"""

from configs import base

_MALA = {"name": "mala", "num_steps": 10}
_HMC = {"name": "hmc", "num_steps": 10, "num_leapfrog_steps": 2}
_DUAL_AVERAGING = {"adaptation": "dual_averaging", "preconditioner": "identity"}

ROWS = {
    "HVAE": {},
    "gradMALA-D": {**_MALA, "preconditioner": "diag"},
    "dsMALA-D": {**_MALA, **_DUAL_AVERAGING},
    "gradHMC-D": {**_HMC, "preconditioner": "diag"},
    "dsHMC-D": {**_HMC, **_DUAL_AVERAGING},
    "gradMALA-LT": {**_MALA, "preconditioner": "tril"},
    "gradHMC-LT": {**_HMC, "preconditioner": "tril"},
}


def get_config(row="HVAE"):
    """Returns the config of one row of Table 6 (MNIST)."""
    if row not in ROWS:
        raise KeyError(f"Unknown Table 6 row {row!r}; known: {', '.join(ROWS)}.")
    config = base.get_config()
    config.dataset.name = "mnist"
    config.dataset.binarization = "none"
    config.model.name = "hvae"
    config.model.latent_dims = (5, 10)
    config.model.hidden_units = (200, 200)
    config.train.learning_rate = 1e-3
    config.train.epochs = 200
    config.train.verbose = 2
    config.kernel.mcmc_start_epoch = 190
    config.kernel.learning_rate = 1e-3
    for name, value in ROWS[row].items():
        config.kernel[name] = value
    return config
