"""Evaluation: importance-sampled log-likelihood, KID and the linear study's condition numbers.

KID of a model's samples: `sample_kid` with a feature extractor from `load_extractor` (a
dataset classifier from `train_feature_extractor`, or InceptionV3 from a local weights file).
"""

from tf_smvae.evaluation.augmentation import balanced_accuracy
from tf_smvae.evaluation.augmentation import binary_counts
from tf_smvae.evaluation.augmentation import true_negative_rate
from tf_smvae.evaluation.augmentation import true_positive_rate
from tf_smvae.evaluation.classifier import FEATURE_LAYER
from tf_smvae.evaluation.classifier import build_classifier
from tf_smvae.evaluation.classifier import evaluate_accuracy
from tf_smvae.evaluation.classifier import train_classifier
from tf_smvae.evaluation.classifier import train_feature_extractor
from tf_smvae.evaluation.condition_numbers import LinearStudyMetrics
from tf_smvae.evaluation.condition_numbers import condition_number
from tf_smvae.evaluation.condition_numbers import linear_study_metrics
from tf_smvae.evaluation.condition_numbers import log_likelihood_gap
from tf_smvae.evaluation.condition_numbers import preconditioned_condition_number
from tf_smvae.evaluation.features import inception_extractor
from tf_smvae.evaluation.features import keras_model_extractor
from tf_smvae.evaluation.features import load_extractor
from tf_smvae.evaluation.kid import kid
from tf_smvae.evaluation.log_likelihood import LogLikelihoodResult
from tf_smvae.evaluation.log_likelihood import batch_log_likelihood
from tf_smvae.evaluation.log_likelihood import log_likelihood
from tf_smvae.evaluation.sample_quality import sample_images
from tf_smvae.evaluation.sample_quality import sample_kid

__all__ = [
    "FEATURE_LAYER",
    "LinearStudyMetrics",
    "LogLikelihoodResult",
    "balanced_accuracy",
    "batch_log_likelihood",
    "binary_counts",
    "build_classifier",
    "condition_number",
    "evaluate_accuracy",
    "inception_extractor",
    "keras_model_extractor",
    "kid",
    "linear_study_metrics",
    "load_extractor",
    "log_likelihood",
    "log_likelihood_gap",
    "preconditioned_condition_number",
    "sample_images",
    "sample_kid",
    "train_classifier",
    "train_feature_extractor",
    "true_negative_rate",
    "true_positive_rate",
]
