"""Per-class KID of the augmentation study's VAEs (the KID columns of paper Table 3).

For each row, seed and class that has a VAE, `KIDSettings.num_samples` prior samples of that
class's VAE (likelihood means, like the synthetic images) are compared with the class's
images of the folder's test split, in the feature space of a chosen extractor (a `.keras`
classifier, e.g. from `bin/train_feature_extractor.py`, or InceptionV3 from a local
weights file). Records: `runs/<row>/seed<k>/kid_<class>.json`; results.json keys
`"<row>/KID/<class>"` with `{"kid": {"mean", "std", "seeds"}}`.
"""

import os

import ml_collections
import numpy as np

from tf_smvae.evaluation import features
from tf_smvae.evaluation import sample_quality
from tf_smvae.evaluation.kid import DEFAULT_NUM_SUBSETS as KID_NUM_SUBSETS
from tf_smvae.evaluation.kid import DEFAULT_SUBSET_SIZE as KID_SUBSET_SIZE
from tf_smvae.experiments import common
from tf_smvae.util.errors import ConfigError

__all__ = ["KID_DEFAULTS", "KIDSettings", "check", "class_kid", "kid_key", "record_path"]


KID_DEFAULTS = ml_collections.ConfigDict(
    dict(
        feature_extractor=None,
        inception_weights=None,
        num_samples=1000,
        num_subsets=KID_NUM_SUBSETS,
        subset_size=KID_SUBSET_SIZE,
    )
)
"""The defaults of `KIDSettings`, the one place they are written."""


def KIDSettings(**overrides):  # noqa: N802  (called as the frozen dataclass it was)
    """How the per-class KID is computed (no extractor: no KID columns). Every field is
    an override of its default in `KID_DEFAULTS`.

    Args:
      feature_extractor: None, a `.keras` classifier file, or "inception".
      inception_weights: the notop InceptionV3 weights file for "inception".
      num_samples: prior samples per class VAE.
      num_subsets: KID subsets.
      subset_size: rows per subset (clamped to the smaller of the two sets).

    Returns:
      An `ml_collections.FrozenConfigDict`.

    Raises:
      ConfigError: for a field that does not exist.
    """
    return common.make_settings(KID_DEFAULTS, overrides, "KID settings")


def kid_key(row, class_name):
    """The results.json key of one row's KID on one class, e.g. "VAE-gradHMC/KID/shirt"."""
    return f"{row}/KID/{class_name}"


def record_path(workdir, row, seed, class_name):
    """Where one (row, seed, class) KID record is stored."""
    return os.path.join(workdir, "runs", row, f"seed{seed}", f"kid_{class_name}.json")


def check(settings):
    """Raises ConfigError for an extractor that cannot be loaded or bad counts.

    Args:
      settings: `KIDSettings`.
    """
    if settings.feature_extractor is None:
        return
    features.check_extractor_spec(
        settings.feature_extractor, settings.inception_weights, flag="feature_extractor"
    )
    if settings.num_samples < 2 or settings.num_subsets < 1 or settings.subset_size < 2:
        raise ConfigError(
            "KID needs num_samples >= 2, num_subsets >= 1 and subset_size >= 2; got "
            f"{settings.num_samples}, {settings.num_subsets}, {settings.subset_size}."
        )


def load_extractor(settings):
    """The feature extractor named by `settings` (see `features.load_extractor`)."""
    return features.load_extractor(
        settings.feature_extractor, inception_weights=settings.inception_weights
    )


def class_kid(model, real_images, extractor, settings, seed):
    """KID of one class VAE's prior samples against that class's real images.

    Args:
      model: a trained VAE of the class.
      real_images: uint8 [N, H, W, C] test images of the class.
      extractor: a feature extractor (`load_extractor`).
      settings: `KIDSettings`.
      seed: int seed of the samples and the subsets.

    Returns:
      A JSON-ready record: kid (unbiased MMD^2, mean over subsets), kid_std_subsets,
      num_real, num_fake, subset_size.
    """
    result = sample_quality.sample_kid(
        model,
        np.asarray(real_images, np.float32) / 255.0,
        extractor,
        num_samples=settings.num_samples,
        seed=seed,
        num_subsets=settings.num_subsets,
        subset_size=settings.subset_size,
    )
    return sample_quality.kid_record(result)
