"""The simulated data of the linear hierarchical VAE study (DESIGN section 3).

z_1 ~ N(0, I_n1), z_2 = A z_1 + eps, x = W z_2 + s eps_x with A [n2, n1] and W [D, n2] iid
N(0, 1), eps ~ N(0, I_n2), eps_x ~ N(0, I_D), s = 0.5, D = 10, 1000 points. So
x ~ N(0, W (I + A A^T) W^T + s^2 I) exactly (the paper's code added an all-ones matrix
instead of the identity, a bug not copied here). Examples have shape (1, D, 1): one row of
D real values, the layout of the other sources, but not in [0, 1] (load it with
`validate=False` and the `gaussian` likelihood, or use `simulate` directly).

Registered sources: `linear_gaussian` ((n1, n2) = (10, 20)) and `linear_gaussian_50_100`;
split `train` is the data of the study, `test` an independent draw from the same model.
"""

import dataclasses
import math

import numpy as np

from tf_smvae.data.sources import SOURCES
from tf_smvae.data.sources import DatasetInfo
from tf_smvae.data.sources import RawArrays
from tf_smvae.data.sources import check_split

__all__ = ["LinearGaussianData", "LinearGaussianSource", "gaussian_log_density", "simulate"]

_SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class LinearGaussianData:
    """One simulated data set and the true model that generated it.

    Attributes:
      x: float32 [N, 1, D, 1].
      transition: A [n2, n1].
      observation: W [D, n2].
      noise_std: s.
      latent_covariance: covariance of z_2, I + A A^T [n2, n2].
      covariance: covariance of x, W (I + A A^T) W^T + s^2 I [D, D].
      log_likelihood: float64 [N], the true log p(x) of each example.
    """

    x: np.ndarray
    transition: np.ndarray
    observation: np.ndarray
    noise_std: float
    latent_covariance: np.ndarray
    covariance: np.ndarray
    log_likelihood: np.ndarray

    @property
    def image_shape(self):
        """(1, D, 1)."""
        return tuple(self.x.shape[1:])


def gaussian_log_density(x, covariance):
    """log N(x; 0, covariance) per row of x [N, D], float64."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    chol = np.linalg.cholesky(covariance)
    white = np.linalg.solve(chol, x.T)
    log_det = 2.0 * np.sum(np.log(np.diag(chol)))
    return -0.5 * (np.sum(white**2, 0) + log_det + x.shape[1] * math.log(2.0 * math.pi))


def simulate(
    latent_dims=(10, 20), num_points=1000, data_dim=10, noise_std=0.5, seed=0, split="train"
):
    """Simulates the study's data set.

    The model (A, W) depends on `seed` only; `split` picks an independent stream of
    points from it ("train" is the study's data).

    Args:
      latent_dims: (n1, n2).
      num_points: N.
      data_dim: D.
      noise_std: s.
      seed: non-negative int.
      split: "train" or "test".

    Returns:
      A `LinearGaussianData`.
    """
    check_split("linear_gaussian", split, _SPLITS)
    n1, n2 = (int(n) for n in latent_dims)
    model_rng = np.random.default_rng([seed, 0])
    transition = model_rng.standard_normal((n2, n1))
    observation = model_rng.standard_normal((data_dim, n2))
    rng = np.random.default_rng([seed, 1 + _SPLITS.index(split)])
    z1 = rng.standard_normal((num_points, n1))
    z2 = z1 @ transition.T + rng.standard_normal((num_points, n2))
    x = z2 @ observation.T + noise_std * rng.standard_normal((num_points, data_dim))
    latent_covariance = np.eye(n2) + transition @ transition.T
    covariance = observation @ latent_covariance @ observation.T + noise_std**2 * np.eye(data_dim)
    return LinearGaussianData(
        x=x.reshape(num_points, 1, data_dim, 1).astype(np.float32),
        transition=transition,
        observation=observation,
        noise_std=float(noise_std),
        latent_covariance=latent_covariance,
        covariance=covariance,
        log_likelihood=gaussian_log_density(x, covariance),
    )


class LinearGaussianSource:
    """A registered source of `simulate` data (seed 0) for fixed latent dims."""

    def __init__(self, latent_dims, num_points=1000, data_dim=10, noise_std=0.5, seed=0):
        self.latent_dims = tuple(latent_dims)
        self.num_points = num_points
        self.data_dim = data_dim
        self.noise_std = noise_std
        self.seed = seed

    def info(self, *, data_dir=None, image_size=None):
        """(1, D, 1) examples, no labels, splits train and test."""
        del data_dir, image_size
        return DatasetInfo((1, self.data_dim, 1), None, _SPLITS)

    def arrays(self, split, *, data_dir=None, image_size=None, download=True):
        """The simulated split as float32 [N, 1, D, 1] (real values) without labels."""
        del data_dir, image_size, download
        data = simulate(
            self.latent_dims, self.num_points, self.data_dim, self.noise_std, self.seed, split
        )
        origin = f"simulated linear_gaussian {self.latent_dims} seed {self.seed}"
        return RawArrays(data.x, None, origin)


SOURCES.register("linear_gaussian")(LinearGaussianSource((10, 20)))
SOURCES.register("linear_gaussian_50_100")(LinearGaussianSource((50, 100)))
