"""Models: likelihoods, priors and the VAEs built from them."""

from tf_smvae.model.hierarchical import HierarchicalVAE
from tf_smvae.model.hierarchical import SpeedMeasureHierarchicalVAE
from tf_smvae.model.likelihoods import LIKELIHOODS
from tf_smvae.model.likelihoods import BernoulliLikelihood
from tf_smvae.model.likelihoods import DiscretizedLogisticLikelihood
from tf_smvae.model.likelihoods import GaussianLikelihood
from tf_smvae.model.likelihoods import make_likelihood
from tf_smvae.model.linear_gaussian import LinearGaussianHVAE
from tf_smvae.model.linear_gaussian import SpeedMeasureLinearGaussianHVAE
from tf_smvae.model.priors import PRIORS
from tf_smvae.model.priors import MixtureOfGaussiansPrior
from tf_smvae.model.priors import StandardNormalPrior
from tf_smvae.model.priors import VampPrior
from tf_smvae.model.priors import make_prior
from tf_smvae.model.refinement import ADAPTATIONS
from tf_smvae.model.refinement import MCMCRefinement
from tf_smvae.model.speed_measure_vae import SpeedMeasureVAE
from tf_smvae.model.vae import VAE

__all__ = [
    "ADAPTATIONS",
    "LIKELIHOODS",
    "PRIORS",
    "VAE",
    "BernoulliLikelihood",
    "DiscretizedLogisticLikelihood",
    "GaussianLikelihood",
    "HierarchicalVAE",
    "LinearGaussianHVAE",
    "MCMCRefinement",
    "MixtureOfGaussiansPrior",
    "SpeedMeasureHierarchicalVAE",
    "SpeedMeasureLinearGaussianHVAE",
    "SpeedMeasureVAE",
    "StandardNormalPrior",
    "VampPrior",
    "make_likelihood",
    "make_prior",
]
