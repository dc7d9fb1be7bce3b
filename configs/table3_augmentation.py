r"""Per-class VAEs of the augmentation study (paper Table 3, ADNI).

    python bin/reproduce_table3.py --data_dir=data/fmnist_imbalanced --workdir=runs/table3

`bin/reproduce_table3.py` builds one config per (row, seed, class) from this file: it points
`dataset` at the class's training images (an `npz` folder it writes) and multiplies the epochs
by `--epochs_scale`. One class folder can also be trained by hand:

    python bin/train.py --config=configs/table3_augmentation.py:gradhmc \
      --config.dataset.data_dir=data/one_class_folder --workdir=runs/one_class

Variants (rows of the table): vae (VAE), gradhmc (VAE-gradHMC), dshmc (VAE-dsHMC).
The paper's settings: latent 20, discretised logistic (256 bins) with sigma^2 = 0.05, Adam
lr 1e-3 for the VAE and 1e-2 for the kernel, 1900 ELBO epochs + 100 MCMC epochs (2000 for the
plain VAE), HMC with K = 5, L = 2 (its code path), MLP 2 x 200 encoder and decoder (the base's).
"""

from configs import base

ROWS = {"VAE": "vae", "VAE-gradHMC": "gradhmc", "VAE-dsHMC": "dshmc"}

_VARIANTS = {
    "vae": {"name": "none"},
    "gradhmc": {
        "name": "hmc",
        "adaptation": "speed_measure",
        "preconditioner": "diag",
    },
    "dshmc": {
        "name": "hmc",
        "adaptation": "dual_averaging",
        "preconditioner": "identity",
    },
}


def get_config(variant="gradhmc"):
    """Returns the config of one row (`vae`, `gradhmc`, `dshmc`)."""
    if variant not in _VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; known: {', '.join(_VARIANTS)}.")
    config = base.get_config()
    config.dataset.name = "image_folder"
    config.model.latent_dim = 20
    config.model.likelihood = "discretized_logistic"
    config.model.likelihood_variance = 0.05
    config.train.epochs = 2000
    config.train.learning_rate = 1e-3
    config.train.verbose = 2
    config.kernel.mcmc_start_epoch = 1900
    config.kernel.learning_rate = 1e-2
    config.kernel.num_steps = 5
    config.kernel.num_leapfrog_steps = 2
    for key, value in _VARIANTS[variant].items():
        config.kernel[key] = value
    return config
