"""Quality of a model's prior samples: KID between its samples and real images (Tables 2, 6).

`sample_kid` draws images from the model's prior (the likelihood's mean image of each draw,
as `model.sample` returns it), maps them and the real images through a feature extractor
(`features.load_extractor`) and compares the two feature sets with `kid`.
"""

import numpy as np
import tensorflow as tf

from tf_smvae.evaluation.kid import DEFAULT_NUM_SUBSETS as KID_NUM_SUBSETS
from tf_smvae.evaluation.kid import DEFAULT_SUBSET_SIZE as KID_SUBSET_SIZE
from tf_smvae.evaluation.kid import kid
from tf_smvae.util import seeds

__all__ = [
    "kid_record",
    "sample_images",
    "sample_kid",
]

# Images per `model.sample` call: bounds the decoder's memory for any number of samples.
_SAMPLE_CHUNK = 500
_LEVELS = 255.0


def _check_count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {value!r}.")


def sample_images(model, num_samples, seed):
    """Draws `num_samples` prior samples of `model` as mean images clipped to [0, 1].

    Chunk i (of 500 images) is `model.sample(num, fold_in(seed, i))`, so the first images do
    not depend on `num_samples`.

    Args:
      model: anything with `sample(num, seed) -> [num, H, W, C]` in the data's [0, 1] scale
        (a tf_smvae VAE, or a loaded SavedModel export).
      num_samples: int >= 1.
      seed: int or int32[2] seed.

    Returns:
      float32 numpy array [num_samples, H, W, C] in [0, 1] (the Gaussian likelihood's mean
      may leave [0, 1]; it is clipped).

    Raises:
      ValueError: for a bad `num_samples` or non-finite samples.
    """
    _check_count(num_samples, "num_samples", 1)
    seed = seeds.as_seed(seed)
    chunks = []
    for index, start in enumerate(range(0, num_samples, _SAMPLE_CHUNK)):
        num = min(_SAMPLE_CHUNK, num_samples - start)
        chunk_seed = tf.random.experimental.stateless_fold_in(seed, index)
        chunks.append(np.asarray(model.sample(num, chunk_seed), np.float32))
    images = np.concatenate(chunks)
    if not np.all(np.isfinite(images)):
        raise ValueError("The model's samples contain non-finite values (nan or inf).")
    return np.clip(images, 0.0, 1.0)


def _real_array(real_images):
    """Real images as float32 [N, ...] in [0, 1]: arrays, tensors, or a dataset of batches."""
    if isinstance(real_images, tf.data.Dataset):
        batches = [batch[0] if isinstance(batch, tuple) else batch for batch in real_images]
        if not batches:
            raise ValueError("`real_images` is an empty dataset.")
        real_images = np.concatenate([np.asarray(batch) for batch in batches])
    images = np.asarray(real_images)
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.float32) / _LEVELS
    return images.astype(np.float32)


def _numpy_seed(seed):
    """A non-negative pair of ints for `np.random.default_rng` from an int32[2] seed."""
    return [int(value) % 2**32 for value in np.asarray(seed)]


def sample_kid(
    model,
    real_images,
    feature_extractor,
    *,
    num_samples,
    seed,
    num_subsets=KID_NUM_SUBSETS,
    subset_size=KID_SUBSET_SIZE,
):
    """KID between `num_samples` prior samples of `model` and `real_images`.

    The seed is split (salt "sample_kid") into the sampling seed (`sample_images`) and the
    seed of KID's random subsets. `subset_size` is clamped to min(num_real, num_fake); the
    value used is returned as `subset_size`, the one asked for as `requested_subset_size`.

    Args:
      model: anything with `sample(num, seed)` returning mean images in [0, 1].
      real_images: [N, H, W, C] array or tensor in [0, 1] (uint8 grey levels are divided by
        255), or a `tf.data.Dataset` of such batches (or of (images, labels) pairs).
      feature_extractor: callable images -> [N, F] features, e.g. from
        `features.load_extractor`.
      num_samples: int >= 2, number of model samples.
      seed: int or int32[2] seed.
      num_subsets: int >= 1, KID subsets.
      subset_size: int >= 2, rows per subset before clamping.

    Returns:
      dict with kid_mean, kid_std (floats; unbiased MMD^2 over subsets, not scaled by
      1000), num_real, num_fake, subset_size (used), requested_subset_size, num_subsets.

    Raises:
      ValueError: for bad counts, fewer than 2 real images, or real images whose shape
        differs from the samples'.

    #### Examples

    ```python
    extract = tf_smvae.evaluation.load_extractor("runs/extractor/extractor.keras")
    result = sample_kid(model, test_images, extract, num_samples=10000, seed=0)
    result["kid_mean"], result["kid_std"]
    ```
    """
    _check_count(num_samples, "num_samples", 2)
    _check_count(num_subsets, "num_subsets", 1)
    _check_count(subset_size, "subset_size", 2)
    real = _real_array(real_images)
    if real.ndim < 2 or real.shape[0] < 2:
        raise ValueError(f"`real_images` must hold at least 2 images; got shape {real.shape}.")
    sample_seed, subset_seed = seeds.split_seed(seed, 2, salt="sample_kid")
    fake = sample_images(model, num_samples, sample_seed)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"`real_images` have shape {real.shape[1:]} per image but the model samples "
            f"{fake.shape[1:]}; compare the model with its own dataset."
        )
    used_size = min(int(subset_size), real.shape[0], fake.shape[0])
    mean, std = kid(
        feature_extractor(real),
        feature_extractor(fake),
        num_subsets=int(num_subsets),
        subset_size=used_size,
        seed=_numpy_seed(subset_seed),
    )
    return {
        "kid_mean": mean,
        "kid_std": std,
        "num_real": int(real.shape[0]),
        "num_fake": int(fake.shape[0]),
        "subset_size": used_size,
        "requested_subset_size": int(subset_size),
        "num_subsets": int(num_subsets),
    }


def kid_record(result):
    """The JSON-ready summary of a `sample_kid` result that the reproduction records keep.

    Returns:
      dict: kid (unbiased MMD^2, mean over subsets), kid_std_subsets, num_real, num_fake,
      subset_size (the one used).
    """
    return {
        "kid": float(result["kid_mean"]),
        "kid_std_subsets": float(result["kid_std"]),
        "num_real": int(result["num_real"]),
        "num_fake": int(result["num_fake"]),
        "subset_size": int(result["subset_size"]),
    }
