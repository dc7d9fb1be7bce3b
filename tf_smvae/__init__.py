"""tf_smvae: VAEs whose posterior samples are refined by short-run adaptive MCMC.

Keras 3 with the TensorFlow backend; importing this package sets
`KERAS_BACKEND=tensorflow` before Keras loads.
"""

from tf_smvae import _backend  # noqa: F401, I001  (must run before keras is imported)

from tf_smvae import data
from tf_smvae import evaluation
from tf_smvae import export
from tf_smvae import mcmc
from tf_smvae import model
from tf_smvae import nn
from tf_smvae.model import VAE
from tf_smvae.model import HierarchicalVAE
from tf_smvae.model import LinearGaussianHVAE
from tf_smvae.model import MCMCRefinement
from tf_smvae.model import SpeedMeasureHierarchicalVAE
from tf_smvae.model import SpeedMeasureLinearGaussianHVAE
from tf_smvae.model import SpeedMeasureVAE

__version__ = "0.1.0"

__all__ = [
    "VAE",
    "HierarchicalVAE",
    "LinearGaussianHVAE",
    "MCMCRefinement",
    "SpeedMeasureHierarchicalVAE",
    "SpeedMeasureLinearGaussianHVAE",
    "SpeedMeasureVAE",
    "data",
    "evaluation",
    "export",
    "mcmc",
    "model",
    "nn",
]
