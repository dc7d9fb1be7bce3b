"""Kernel Inception Distance (DESIGN section 6): unbiased MMD^2 with a cubic kernel on subsets.

KID compares two sets of features (InceptionV3 pool3 activations, or those of any other
extractor from `tf_smvae.evaluation.features`) by the unbiased estimate of the squared maximum
mean discrepancy under the polynomial kernel k(a, b) = (a.b / dim + 1)^3, averaged over random
subsets. Unlike FID it is unbiased, so two samples of one distribution score about 0 (and may
score slightly below it).
"""

import numpy as np

__all__ = [
    "kid",
]


# The KID protocol of Binkowski et al.: 100 subsets of 1000 images. Every other default
# (configs, study settings, flags) refers to these.
DEFAULT_NUM_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000


def _validate_features(features, name):
    features = np.asarray(features.numpy() if hasattr(features, "numpy") else features)
    if features.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D [num_samples, dim]; got shape {features.shape}.")
    if features.shape[0] < 2:
        raise ValueError(f"`{name}` needs at least 2 rows; got {features.shape[0]}.")
    if features.shape[1] < 1:
        raise ValueError(f"`{name}` needs at least 1 feature column; got shape {features.shape}.")
    features = features.astype(np.float64)
    if not np.all(np.isfinite(features)):
        raise ValueError(f"`{name}` contains non-finite values (nan or inf).")
    return features


def _polynomial_kernel(a, b):
    """k(a, b) = (a.b / dim + 1)^3 for all pairs of rows: [m, d] x [n, d] -> [m, n]."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _unbiased_mmd2(real, fake):
    """Unbiased MMD^2 between two equal-size sets of rows (diagonals of Kxx, Kyy left out)."""
    size = real.shape[0]
    kernel_real = _polynomial_kernel(real, real)
    kernel_fake = _polynomial_kernel(fake, fake)
    kernel_cross = _polynomial_kernel(real, fake)
    within = (
        kernel_real.sum() - np.trace(kernel_real) + kernel_fake.sum() - np.trace(kernel_fake)
    ) / (size * (size - 1))
    return within - 2.0 * kernel_cross.mean()


def kid(
    real_features,
    fake_features,
    *,
    num_subsets=DEFAULT_NUM_SUBSETS,
    subset_size=DEFAULT_SUBSET_SIZE,
    seed=0,
):
    """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets.

    For each of `num_subsets` subsets, `m = min(subset_size, n_real, n_fake)` rows are drawn
    without replacement from each set, and

        MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
                  - 2 sum_{i, j} k(x_i, y_j) / m^2,

    with k(a, b) = (a.b / dim + 1)^3. Computed in float64 with numpy; subsets come from
    `np.random.default_rng(seed)`, so a seed reproduces the result exactly.

    Args:
      real_features: [n_real, dim] array or tensor of features of real data.
      fake_features: [n_fake, dim] array or tensor of features of generated data.
      num_subsets: positive int, number of random subsets averaged over.
      subset_size: positive int, rows per subset (capped at `n_real` and `n_fake`).
      seed: int seed of the numpy Generator that draws the subsets.

    Returns:
      (mean, std): Python floats, the mean and standard deviation of MMD^2_u over subsets
        (the paper reports both; KID values are often quoted x 1000).

    Raises:
      ValueError: if either feature set is not 2-D, has fewer than 2 rows or non-finite
        values, if their feature dimensions differ, or if `num_subsets` / `subset_size` is
        not a positive integer (`subset_size` at least 2).

    #### Examples

    ```python
    real = inception(real_images)   # e.g. from tf_smvae.evaluation.inception_extractor
    fake = inception(model.sample(10000))
    mean, std = tf_smvae.evaluation.kid(real, fake)
    ```

    #### References

    [1]: Mikolaj Binkowski, Danica J. Sutherland, Michael Arbel and Arthur Gretton.
         Demystifying MMD GANs. In _International Conference on Learning Representations_,
         2018. https://arxiv.org/abs/1801.01401
    [2]: Arthur Gretton, Karsten M. Borgwardt, Malte J. Rasch, Bernhard Schoelkopf and
         Alexander Smola. A Kernel Two-Sample Test. _Journal of Machine Learning Research_,
         13:723-773, 2012.
    """
    real = _validate_features(real_features, "real_features")
    fake = _validate_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            "`real_features` and `fake_features` must have the same feature dimension; "
            f"got {real.shape[1]} and {fake.shape[1]}."
        )
    if isinstance(num_subsets, bool) or not isinstance(num_subsets, (int, np.integer)):
        raise ValueError(f"`num_subsets` must be a positive int; got {num_subsets!r}.")
    if num_subsets < 1:
        raise ValueError(f"`num_subsets` must be a positive int; got {num_subsets}.")
    if isinstance(subset_size, bool) or not isinstance(subset_size, (int, np.integer)):
        raise ValueError(f"`subset_size` must be an int >= 2; got {subset_size!r}.")
    if subset_size < 2:
        raise ValueError(f"`subset_size` must be an int >= 2; got {subset_size}.")
    size = min(int(subset_size), real.shape[0], fake.shape[0])
    rng = np.random.default_rng(seed)
    estimates = np.empty(int(num_subsets), np.float64)
    for index in range(int(num_subsets)):
        real_rows = rng.choice(real.shape[0], size=size, replace=False)
        fake_rows = rng.choice(fake.shape[0], size=size, replace=False)
        estimates[index] = _unbiased_mmd2(real[real_rows], fake[fake_rows])
    return float(estimates.mean()), float(estimates.std())
