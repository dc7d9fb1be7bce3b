"""Condition numbers of the linear study (DESIGN section 6, paper Tables 4 and 5).

- kappa(Sigma_{z|x}): how badly scaled the exact posterior is (equal to kappa of the
  posterior precision, the quantity the paper's code reports);
- kappa(C^T Sigma_{z|x}^{-1} C): the condition of the posterior in the coordinates u with
  z = C u in which the preconditioned kernel moves, for the learned C (1 is perfect);
- Delta log p(x): true minus learned exact log-likelihood, averaged over the data.
"""

import dataclasses

import numpy as np

__all__ = [
    "LinearStudyMetrics",
    "condition_number",
    "linear_study_metrics",
    "log_likelihood_gap",
    "preconditioned_condition_number",
]


def _as_float64(matrix):
    return np.asarray(matrix.numpy() if hasattr(matrix, "numpy") else matrix, np.float64)


def condition_number(matrix):
    """kappa(M) = sigma_max / sigma_min, the 2-norm condition number, in float64.

    Args:
      matrix: [d, d] array or tensor.

    Returns:
      float (inf for a singular matrix).

    Raises:
      ValueError: if the matrix has a NaN or infinite entry.
    """
    matrix = _as_float64(matrix)
    if not np.all(np.isfinite(matrix)):
        raise ValueError("condition_number: the matrix has non-finite entries.")
    singular_values = np.linalg.svd(matrix, compute_uv=False)
    if singular_values[-1] == 0.0:
        return float("inf")
    return float(singular_values[0] / singular_values[-1])


def preconditioned_condition_number(covariance, scale_tril=None):
    """kappa(C^T Sigma^{-1} C), computed stably as kappa(L^{-1} C)^2 with Sigma = L L^T.

    Args:
      covariance: Sigma [d, d], symmetric positive definite.
      scale_tril: C [d, d] (dense), [d] (a diagonal) or None (the identity).

    Returns:
      float; with C = I it equals kappa(Sigma).

    Raises:
      ValueError: if Sigma or C has a non-finite entry.
      numpy.linalg.LinAlgError: if Sigma is not positive definite.
    """
    covariance = _as_float64(covariance)
    if not np.all(np.isfinite(covariance)):
        raise ValueError("preconditioned_condition_number: the covariance has non-finite entries.")
    chol = np.linalg.cholesky(covariance)
    if scale_tril is None:
        scale = np.eye(covariance.shape[0])
    else:
        scale = _as_float64(scale_tril)
        scale = np.diag(scale) if scale.ndim == 1 else scale
    return condition_number(np.linalg.solve(chol, scale)) ** 2


def log_likelihood_gap(true_log_likelihood, learned_log_likelihood):
    """Delta log p(x) = mean over examples of (true - learned) log p(x), float64."""
    true_log_likelihood = _as_float64(true_log_likelihood)
    return float(np.mean(true_log_likelihood - _as_float64(learned_log_likelihood)))


@dataclasses.dataclass
class LinearStudyMetrics:
    """The numbers of one trained linear model (one cell of Tables 4 and 5).

    Attributes:
      delta_log_px: Delta log p(x), nats, mean over the data.
      kappa_posterior: kappa(Sigma_{z|x}) of the learned model.
      kappa_transformed: kappa(C^T Sigma_{z|x}^{-1} C) for the learned C, or None for a
        model without a kernel.
    """

    delta_log_px: float
    kappa_posterior: float
    kappa_transformed: float | None

    def to_dict(self):
        return dataclasses.asdict(self)


def linear_study_metrics(model, x, true_log_likelihood):
    """Table 4 and 5 numbers of a trained `LinearGaussianHVAE` (or its MCMC variant).

    Args:
      model: a `LinearGaussianHVAE`; its learned C is
        `model.refinement.kernel_parameters.dense_scale_tril()` when it has a kernel.
      x: the data [N, *image_shape].
      true_log_likelihood: [N], log p(x) under the true model.

    Returns:
      `LinearStudyMetrics`.

    Raises:
      ValueError: if a weight of the model (or its C) is not finite, naming the variable.

    #### References

    [1] Hirt, M., Kreouzis, V. and Dellaportas, P. Learning variational autoencoders via
        MCMC speed measures. Statistics and Computing, 2024, Tables 4 and 5.
    """
    for variable in model.weights:
        if not np.all(np.isfinite(variable.numpy())):
            raise ValueError(f"The model's variable {variable.path!r} is not finite.")
    covariance = model.posterior_covariance()
    refinement = getattr(model, "refinement", None)
    transformed = None
    if refinement is not None:
        scale = refinement.kernel_parameters.dense_scale_tril()
        transformed = preconditioned_condition_number(covariance, scale)
    return LinearStudyMetrics(
        delta_log_px=log_likelihood_gap(true_log_likelihood, model.exact_log_likelihood(x)),
        kappa_posterior=condition_number(covariance),
        kappa_transformed=transformed,
    )
