"""Preconditioned MALA/HMC kernels, their speed-measure adaptation, and baselines.

Kernels follow the `tfp.mcmc.TransitionKernel` contract (calibrated kernels are
`tfp.mcmc.MetropolisHastings` around an uncalibrated proposal); the learned step size and
preconditioner live in the `KernelParameters` Keras layer; `run_adaptive_chain` runs K
transitions and returns the speed-measure gradient for one optimizer step;
`SpeedMeasureAdaptation` wraps a kernel for the warm-up inside `tfp.mcmc.sample_chain`, and
`adapt_kernel` runs that warm-up as one compiled loop and returns a ready kernel.
"""

from tf_smvae.mcmc.adapt import AdaptationTrace
from tf_smvae.mcmc.adapt import AdaptKernelResults
from tf_smvae.mcmc.adapt import adapt_kernel
from tf_smvae.mcmc.adaptation import SHAPE_GRAD_CLIP_NORM
from tf_smvae.mcmc.adaptation import STEP_SIZE_ADAPTATIONS
from tf_smvae.mcmc.adaptation import AdamState
from tf_smvae.mcmc.adaptation import SpeedMeasureAdaptation
from tf_smvae.mcmc.adaptation import SpeedMeasureAdaptationResults
from tf_smvae.mcmc.adaptation import normalise_scale_tril
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
from tf_smvae.mcmc.kernels import kernel_name_of
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
from tf_smvae.mcmc.precision import COVARIANCE_ESTIMATES
from tf_smvae.mcmc.precision import PooledMoments
from tf_smvae.mcmc.speed_measure import GRADIENT_MODES
from tf_smvae.mcmc.speed_measure import SpeedMeasureGradients
from tf_smvae.mcmc.speed_measure import SpeedMeasureResults
from tf_smvae.mcmc.speed_measure import mean_over_chains
from tf_smvae.mcmc.speed_measure import proposal_entropy
from tf_smvae.mcmc.speed_measure import speed_measure_gradients
from tf_smvae.mcmc.speed_measure import speed_measure_objective
from tf_smvae.mcmc.speed_measure import update_entropy_weight
from tf_smvae.mcmc.step_size_search import find_step_size
from tf_smvae.mcmc.trajectory_length import TrajectoryLengthResults
from tf_smvae.mcmc.trajectory_length import choose_num_leapfrog_steps

__all__ = [
    "COVARIANCE_ESTIMATES",
    "TrajectoryLengthResults",
    "choose_num_leapfrog_steps",
    "AdamState",
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
    "PooledMoments",
    "LogDetResult",
    "PRECONDITIONERS",
    "PreconditionedHMC",
    "PreconditionedHMCKernelResults",
    "PreconditionedMALA",
    "PreconditionedMALAKernelResults",
    "SHAPE_GRAD_CLIP_NORM",
    "STEP_SIZE_ADAPTATIONS",
    "STEP_SIZE_BIJECTORS",
    "SpeedMeasureAdaptation",
    "normalise_scale_tril",
    "SpeedMeasureAdaptationResults",
    "SpeedMeasureGradients",
    "SpeedMeasureResults",
    "UncalibratedPreconditionedHMC",
    "UncalibratedPreconditionedMALA",
    "adapt_kernel",
    "auto_log_det",
    "dual_averaging_update",
    "exact_log_det",
    "find_step_size",
    "hessian_vector_product",
    "kernel_name_of",
    "make_kernel",
    "mean_over_chains",
    "potential_hessian",
    "proposal_entropy",
    "run_adaptive_chain",
    "run_chain",
    "run_dual_averaging_chain",
    "run_speed_measure_chain",
    "speed_measure_gradients",
    "speed_measure_objective",
    "stochastic_log_det",
    "update_entropy_weight",
]
