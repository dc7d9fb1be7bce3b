"""Preconditioned MALA/HMC kernels, their speed-measure adaptation, and baselines.

Kernels follow the `tfp.mcmc.TransitionKernel` contract (calibrated kernels are
`tfp.mcmc.MetropolisHastings` around an uncalibrated proposal); the learned step size and
preconditioner live in the `KernelParameters` Keras layer; `run_adaptive_chain` runs K
transitions and returns the speed-measure gradient for one optimizer step.
"""

from tf_smvae.mcmc.adapt import AdaptationTrace
from tf_smvae.mcmc.adapt import AdaptKernelResults
from tf_smvae.mcmc.adapt import adapt_kernel
from tf_smvae.mcmc.chain import AdaptiveChainResults
from tf_smvae.mcmc.chain import ChainResults
from tf_smvae.mcmc.chain import run_adaptive_chain
from tf_smvae.mcmc.chain import run_chain
from tf_smvae.mcmc.chain import run_speed_measure_chain
from tf_smvae.mcmc.dual_averaging import DualAveragingState
from tf_smvae.mcmc.dual_averaging import DualAveragingValues
from tf_smvae.mcmc.dual_averaging import dual_averaging_update
from tf_smvae.mcmc.dual_averaging import run_dual_averaging_chain
from tf_smvae.mcmc.hmc import PreconditionedHMC
from tf_smvae.mcmc.hmc import PreconditionedHMCKernelResults
from tf_smvae.mcmc.hmc import UncalibratedPreconditionedHMC
from tf_smvae.mcmc.kernel_parameters import PRECONDITIONERS
from tf_smvae.mcmc.kernel_parameters import STEP_SIZE_BIJECTORS
from tf_smvae.mcmc.kernel_parameters import KernelParameters
from tf_smvae.mcmc.kernels import KERNELS
from tf_smvae.mcmc.kernels import KernelSpec
from tf_smvae.mcmc.kernels import make_kernel
from tf_smvae.mcmc.log_det import LOG_DET_ESTIMATORS
from tf_smvae.mcmc.log_det import LogDetResult
from tf_smvae.mcmc.log_det import auto_log_det
from tf_smvae.mcmc.log_det import exact_log_det
from tf_smvae.mcmc.log_det import hessian_vector_product
from tf_smvae.mcmc.log_det import potential_hessian
from tf_smvae.mcmc.log_det import stochastic_log_det
from tf_smvae.mcmc.mala import PreconditionedMALA
from tf_smvae.mcmc.mala import PreconditionedMALAKernelResults
from tf_smvae.mcmc.mala import UncalibratedPreconditionedMALA
from tf_smvae.mcmc.speed_measure import GRADIENT_MODES
from tf_smvae.mcmc.speed_measure import SpeedMeasureResults
from tf_smvae.mcmc.speed_measure import proposal_entropy
from tf_smvae.mcmc.speed_measure import speed_measure_objective
from tf_smvae.mcmc.speed_measure import update_entropy_weight

__all__ = [
    "AdaptKernelResults",
    "AdaptationTrace",
    "AdaptiveChainResults",
    "ChainResults",
    "DualAveragingState",
    "DualAveragingValues",
    "GRADIENT_MODES",
    "KERNELS",
    "KernelParameters",
    "KernelSpec",
    "LOG_DET_ESTIMATORS",
    "LogDetResult",
    "PRECONDITIONERS",
    "PreconditionedHMC",
    "PreconditionedHMCKernelResults",
    "PreconditionedMALA",
    "PreconditionedMALAKernelResults",
    "STEP_SIZE_BIJECTORS",
    "SpeedMeasureResults",
    "UncalibratedPreconditionedHMC",
    "UncalibratedPreconditionedMALA",
    "adapt_kernel",
    "auto_log_det",
    "dual_averaging_update",
    "exact_log_det",
    "hessian_vector_product",
    "make_kernel",
    "potential_hessian",
    "proposal_entropy",
    "run_adaptive_chain",
    "run_chain",
    "run_dual_averaging_chain",
    "run_speed_measure_chain",
    "speed_measure_objective",
    "stochastic_log_det",
    "update_entropy_weight",
]
