"""MCMC-coupled training (the paper's Algorithm 1) from Python: ELBO epochs, then epochs
where short-run HMC refines the encoder's samples, with TensorBoard kernel diagnostics.

    python examples/mcmc_vae.py --out=runs/mcmc_vae          # ~5 min on 2 cores
    python examples/mcmc_vae.py --out=/tmp/mcmc_vae --smoke  # seconds (CI)

Then `tensorboard --logdir=runs/mcmc_vae/tensorboard`.
"""

import argparse
import pathlib

import keras

import tf_smvae
from tf_smvae.training.callbacks import KernelDiagnostics


def main(out, smoke):
    out = pathlib.Path(out)
    num_examples = 200 if smoke else 10000
    epochs, mcmc_start_epoch = (2, 1) if smoke else (10, 8)
    train = tf_smvae.data.load(
        "fashion_mnist", "train", batch_size=100, num_examples=num_examples, drop_remainder=True
    )

    # K = 10 HMC transitions of L = 2 leapfrog steps per batch, a lower-triangular C and a
    # step size learned by the speed measure, from epoch `mcmc_start_epoch` on.
    # MCMC is a component the model takes.
    refinement = tf_smvae.MCMCRefinement(
        10, kernel="hmc", num_steps=10, num_leapfrog_steps=2, preconditioner="tril"
    )
    model = tf_smvae.VAE((28, 28, 1), 10, refinement=refinement, mcmc_start_epoch=mcmc_start_epoch)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        kernel_optimizer=keras.optimizers.Adam(1e-3),
        jit_compile=True,
    )
    history = model.fit(
        train,
        epochs=epochs,
        callbacks=[
            keras.callbacks.TensorBoard(str(out / "tensorboard")),
            KernelDiagnostics(str(out / "tensorboard" / "kernel")),
        ],
        verbose=2,
    )
    # Every metric has a value from the first epoch (NaN before the MCMC phase).
    for name in ("loss", "acceptance", "step_size", "entropy_weight", "squared_jump"):
        print(name, [round(float(v), 4) for v in history.history[name]])

    x = next(iter(train))[:8]
    z = model.refine(x, num_steps=20)  # MCMC-refined posterior samples, [8, 10]
    print("refined latents:", z.shape)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/mcmc_vae", help="output folder")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args()
    main(args.out, args.smoke)
