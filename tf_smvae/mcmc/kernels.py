"""Kernel registry: builds a calibrated kernel by name, with its default target acceptance."""

import collections

from tf_smvae.mcmc.hmc import PreconditionedHMC
from tf_smvae.mcmc.mala import PreconditionedMALA
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry

__all__ = [
    "KERNELS",
    "KernelSpec",
    "kernel_name_of",
    "make_kernel",
]

KERNELS = Registry("kernel")

KernelSpec = collections.namedtuple(
    "KernelSpec", ["build", "target_accept_prob", "kernel_class", "step_size_adaptation"]
)
KernelSpec.__doc__ = """A registered kernel.

Fields:
  build: `build(target_log_prob_fn, step_size, scale_tril, num_leapfrog_steps)` -> kernel.
  target_accept_prob: the default target acceptance rate a* of the entropy-weight rule.
  kernel_class: the calibrated class `build` returns (`kernel_name_of` maps back).
  step_size_adaptation: the default rule for h in `SpeedMeasureAdaptation`
    (`dual_averaging` for both: see its docstring; the paper's is `speed_measure`).
"""


def _build_mala(target_log_prob_fn, step_size, scale_tril, num_leapfrog_steps):
    del num_leapfrog_steps
    return PreconditionedMALA(target_log_prob_fn, step_size, scale_tril)


KERNELS.register("mala")(KernelSpec(_build_mala, 0.55, PreconditionedMALA, "dual_averaging"))
KERNELS.register("hmc")(KernelSpec(PreconditionedHMC, 0.65, PreconditionedHMC, "dual_averaging"))


def kernel_name_of(kernel):
    """Returns the registered name of a calibrated kernel instance (`mala` or `hmc`).

    Raises:
      ConfigError: if `kernel` is not one of the registered kernels.
    """
    for name in KERNELS.names():
        if type(kernel) is KERNELS.get(name).kernel_class:
            return name
    raise ConfigError(
        f"kernel: expected one of tf_smvae's kernels ({', '.join(KERNELS.names())}), "
        f"got {type(kernel).__name__}."
    )


def make_kernel(name, target_log_prob_fn, step_size, scale_tril=None, num_leapfrog_steps=1):
    """Returns the calibrated kernel `name` (`mala` or `hmc`).

    Args:
      name: registered kernel name.
      target_log_prob_fn: the log target.
      step_size: scalar h.
      scale_tril: C (`None`, `[d]` or `[d, d]`).
      num_leapfrog_steps: L (ignored by `mala`).

    Returns:
      A `tfp.mcmc.TransitionKernel` whose results are `MetropolisHastingsKernelResults`.

    Raises:
      ConfigError: if `name` is not registered.
    """
    spec = KERNELS.get(name, field="kernel")
    return spec.build(target_log_prob_fn, step_size, scale_tril, num_leapfrog_steps)
