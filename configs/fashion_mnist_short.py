r"""The same short budget for the VAE and the MCMC-coupled rows of Table 1 (Fashion-MNIST).

    python bin/train.py --config=configs/fashion_mnist_short.py:gradhmc --workdir=runs/short_gradhmc
    python bin/evaluate.py --workdir=runs/short_gradhmc --num_samples=1000

Variants: vae, gradmala, gradhmc, dshmc. 10 epochs at lr 1e-3; the MCMC rows pre-train
8 epochs with the ELBO and train the last 2 with the kernel. MLP 2 x 200, latent 10,
Bernoulli on statically binarised images (the paper's Table 1 set-up, shortened).
"""

from configs import base

_VARIANTS = {
    "vae": {"name": "none"},
    "gradmala": {"name": "mala", "num_steps": 5, "preconditioner": "diag"},
    "gradhmc": {"name": "hmc", "num_steps": 10, "num_leapfrog_steps": 2, "preconditioner": "diag"},
    "dshmc": {
        "name": "hmc",
        "num_steps": 10,
        "num_leapfrog_steps": 2,
        "adaptation": "dual_averaging",
        "preconditioner": "identity",
    },
}


def get_config(variant="gradhmc"):
    """Returns the config of one row (`vae`, `gradmala`, `gradhmc`, `dshmc`)."""
    config = base.get_config()
    config.train.epochs = 10
    config.train.learning_rate = 1e-3
    config.train.verbose = 2
    config.kernel.mcmc_start_epoch = 8
    for key, value in _VARIANTS[variant].items():
        config.kernel[key] = value
    return config
