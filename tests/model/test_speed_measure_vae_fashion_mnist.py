"""SpeedMeasureVAE on real Fashion-MNIST: the MCMC phase gives a better model than the ELBO.

Two models from the same seed fit 1 + 1 epochs on 2000 training images: the plain VAE
(two ELBO epochs) and gradHMC (one ELBO epoch, then one MCMC-coupled epoch, K = 10, L = 2).
Held-out IS log-likelihood on 250 test images, S = 200, the same particle seed. Measured
on seeds 0, 1, 2: gradHMC ahead by 24.7, 25.0, 17.1 nats with its own MCMC proposal and by
22.9, 23.6, 15.1 with the plain encoder proposal, so the better number comes from a better
decoder, not only from a better estimator. The test asks for 5 nats with both estimators.
"""

import os

import keras
import pytest

import tf_smvae

pytestmark = pytest.mark.slow

_FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def _fit(model, train, kernel_optimizer=None):
    extra = {"kernel_optimizer": kernel_optimizer} if kernel_optimizer else {}
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True, **extra)
    model.fit(train, epochs=2, verbose=0)
    return model


def _log_likelihood(model, test, plain_proposal=False):
    if plain_proposal:
        model.importance_proposal = lambda x, tau, seed=None: tf_smvae.VAE.importance_proposal(
            model, x, tau, seed
        )
    return tf_smvae.evaluation.log_likelihood(model, test, num_samples=200, seed=7).log_likelihood


@pytest.mark.skipif(not os.path.exists(_FASHION), reason="needs dataset-fashion-mnist")
def test_mcmc_phase_beats_the_elbo_on_held_out_likelihood():
    load = tf_smvae.data.load
    train = load("fashion_mnist", "train", num_examples=2000, drop_remainder=True, seed=0)
    test = load("fashion_mnist", "test", batch_size=250, num_examples=250, shuffle=False)
    common = dict(image_shape=(28, 28, 1), latent_dim=10, seed=0)
    keras.utils.set_random_seed(0)
    vae = _fit(tf_smvae.VAE(**common), train)
    keras.utils.set_random_seed(0)
    hmc = tf_smvae.SpeedMeasureVAE(
        **common, kernel="hmc", num_mcmc_steps=10, num_leapfrog_steps=2, mcmc_start_epoch=1
    )
    _fit(hmc, train, keras.optimizers.Adam(1e-2))
    baseline = _log_likelihood(vae, test)
    assert _log_likelihood(hmc, test) > baseline + 5.0
    assert _log_likelihood(hmc, test, plain_proposal=True) > baseline + 5.0
