"""`SpeedMeasureVAE`: a `VAE` with an `MCMCRefinement`, built from keyword arguments.

The model takes MCMC as a component; this class only spells the component's arguments
into the constructor, for convenience and for `.keras` files saved under this name:

    SpeedMeasureVAE(image_shape, d, kernel="hmc", num_steps=10, ...)
    == VAE(image_shape, d, refinement=MCMCRefinement(d, kernel="hmc", num_steps=10, ...))

Algorithm 1 itself is in `model/mcmc_training.py`, which every `VAE` with a refinement
runs (`HierarchicalVAE` and `LinearGaussianHVAE` too).
"""

import functools
import warnings

import keras

from tf_smvae.model import refinement as refinement_lib
from tf_smvae.model import vae as vae_lib
from tf_smvae.model.refinement import MCMCRefinement
from tf_smvae.util.errors import ConfigError

__all__ = ["SpeedMeasureVAE", "refinement_from_options"]

# `num_mcmc_steps`: the old name of num_steps, deprecated.
REFINEMENT_ARGS = (*refinement_lib.OPTIONS, "num_mcmc_steps")


def refinement_from_options(refinement, kwargs):
    """The `refinement` a model is given: `refinement` itself, else a callable
    `d -> MCMCRefinement(d, ...)` from the refinement arguments popped out of `kwargs`
    (`num_mcmc_steps` is the deprecated name of `num_steps`).

    Args:
      refinement: an `MCMCRefinement`, its serialised config, or None.
      kwargs: a model's keyword arguments; the `REFINEMENT_ARGS` in it are removed.

    Returns:
      `refinement`, or the callable (the model builds it after its networks, with its d).
    """
    options = {name: kwargs.pop(name) for name in REFINEMENT_ARGS if name in kwargs}
    if refinement is not None:
        return refinement
    if "num_mcmc_steps" in options:
        if "num_steps" in options:
            raise ConfigError("num_mcmc_steps and num_steps are the same argument; give num_steps.")
        warnings.warn(
            "num_mcmc_steps is deprecated; use num_steps (K, as in MCMCRefinement).",
            DeprecationWarning,
            stacklevel=3,
        )
        options["num_steps"] = options.pop("num_mcmc_steps")
    return functools.partial(MCMCRefinement, **options)


@keras.saving.register_keras_serializable(package="tf_smvae")
class SpeedMeasureVAE(vae_lib.VAE):
    """VAE trained with posterior samples refined by an adaptive MALA/HMC kernel.

    The same model as `VAE(..., refinement=MCMCRefinement(d, ...))`, with the
    refinement's arguments given to the constructor.

    #### Examples

    ```python
    model = tf_smvae.SpeedMeasureVAE(
        (28, 28, 1), 10, kernel="hmc", num_steps=10, num_leapfrog_steps=2,
        preconditioner="tril", mcmc_start_epoch=90)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  kernel_optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    model.fit(train, epochs=100)  # 90 ELBO epochs, then 10 MCMC-coupled epochs
    ```

    #### References

    [1] Hirt, M., Kreouzis, V. and Dellaportas, P. Learning variational autoencoders via
        MCMC speed measures. Statistics and Computing, 2024 (arXiv 2308.13731),
        Algorithm 1.
    """

    def __init__(self, image_shape, latent_dim, refinement=None, **kwargs):
        """Builds the VAE and its kernel.

        Args:
          image_shape: (H, W, C) of one example.
          latent_dim: d.
          refinement: an `MCMCRefinement` (or its serialised config); None builds one from
            the keyword arguments `kernel`, `adaptation`, `preconditioner`,
            `num_steps` (K; `num_mcmc_steps` is its deprecated name),
            `num_leapfrog_steps`, `init_step_size`, `target_accept_prob`,
            `entropy_weight`, `entropy_weight_rate`, `gradient_mode`,
            `entropy_estimator`, `restart_each_batch`, `warm_start`.
          **kwargs: `VAE` arguments (`mcmc_start_epoch`, `num_eval_chains`,
            `eval_proposal`, ...).
        """
        refinement = refinement_from_options(refinement, kwargs)
        super().__init__(image_shape, latent_dim, refinement=refinement, **kwargs)
