"""The real (test) images KID compares model samples with, by `config.eval.kid_real_images`.

Its own module so that config validation (which checks the name) and evaluation (which
builds the images) both import it without importing each other.
"""

import numpy as np

from tf_smvae import data
from tf_smvae.training import builders
from tf_smvae.util.registry import Registry

__all__ = ["KID_REAL_IMAGES"]

# How the real (test) images of KID are scaled: `(config, num_examples) -> [N, H, W, C]`.
KID_REAL_IMAGES = Registry("KID real images")


@KID_REAL_IMAGES.register("grey_levels")
def _grey_level_images(config, num_examples):
    """The test split's grey levels / 255 in [0, 1], with no binarisation."""
    images, _ = data.load_arrays(
        config.dataset.name,
        "test",
        data_dir=config.dataset.data_dir,
        image_size=config.dataset.image_size,
    )
    images = images[:num_examples] if num_examples is not None else images
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images


@KID_REAL_IMAGES.register("likelihood")
def _likelihood_images(config, num_examples):
    """The test split as the model saw it (e.g. statically binarised for Bernoulli)."""
    with config.unlocked():
        config.dataset.num_test_examples = num_examples
    _, test, _ = builders.build_datasets(config)
    return np.concatenate([batch.numpy() for batch in test])
