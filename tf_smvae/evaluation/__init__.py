"""Evaluation: importance-sampled log-likelihood, KID and the linear study's condition numbers."""

from tf_smvae.evaluation.condition_numbers import LinearStudyMetrics
from tf_smvae.evaluation.condition_numbers import condition_number
from tf_smvae.evaluation.condition_numbers import linear_study_metrics
from tf_smvae.evaluation.condition_numbers import log_likelihood_gap
from tf_smvae.evaluation.condition_numbers import preconditioned_condition_number
from tf_smvae.evaluation.features import inception_extractor
from tf_smvae.evaluation.features import keras_model_extractor
from tf_smvae.evaluation.kid import kid
from tf_smvae.evaluation.log_likelihood import LogLikelihoodResult
from tf_smvae.evaluation.log_likelihood import batch_log_likelihood
from tf_smvae.evaluation.log_likelihood import log_likelihood

__all__ = [
    "LinearStudyMetrics",
    "LogLikelihoodResult",
    "batch_log_likelihood",
    "condition_number",
    "inception_extractor",
    "keras_model_extractor",
    "kid",
    "linear_study_metrics",
    "log_likelihood",
    "log_likelihood_gap",
    "preconditioned_condition_number",
]
