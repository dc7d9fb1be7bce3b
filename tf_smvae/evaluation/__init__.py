"""Evaluation: importance-sampled log-likelihood (later: KID, condition numbers)."""

from tf_smvae.evaluation.log_likelihood import LogLikelihoodResult
from tf_smvae.evaluation.log_likelihood import batch_log_likelihood
from tf_smvae.evaluation.log_likelihood import log_likelihood

__all__ = [
    "LogLikelihoodResult",
    "batch_log_likelihood",
    "log_likelihood",
]
