"""The linear-Gaussian hierarchical VAE of the simulation study, with its exact answers.

All maps are affine and all variances learned constants (`linear_gaussian_layers`), so the
prior is z ~ N(m, Sigma_z), the likelihood x | z ~ N(W z + b, Sigma_x) (Sigma_x diagonal,
W collecting the dependence of x on z_L and on d_L = A_L z_{L-1} + c_L), the marginal
p(x) = N(W m + b, W Sigma_z W^T + Sigma_x) and the posterior covariance
Sigma_{z|x} = Sigma_z - (W Sigma_z)^T (W Sigma_z W^T + Sigma_x)^{-1} (W Sigma_z), the same for
every x. These are computed in float64 from the current weights.
"""

import collections
import math

import keras
import tensorflow as tf

from tf_smvae.model import hierarchical
from tf_smvae.model import likelihoods
from tf_smvae.model import linear_gaussian_layers as layers_lib
from tf_smvae.model import speed_measure_vae
from tf_smvae.util.errors import ConfigError

__all__ = ["LinearGaussianHVAE", "LinearGaussianMoments", "SpeedMeasureLinearGaussianHVAE"]

LinearGaussianMoments = collections.namedtuple(
    "LinearGaussianMoments",
    ["prior_mean", "prior_covariance", "observation_matrix", "observation_bias", "noise_variance"],
)
LinearGaussianMoments.__doc__ = """The model as z ~ N(m, Sigma_z), x | z ~ N(W z + b, diag(v)).

Fields (float64 tensors):
  prior_mean: m [d].
  prior_covariance: Sigma_z [d, d].
  observation_matrix: W [D, d].
  observation_bias: b [D].
  noise_variance: v [D].
"""


def _blocks_to_matrix(blocks, rows, cols, dtype):
    """Dense [sum(rows), sum(cols)] from {(i, j): block}; absent blocks are zeros."""
    return tf.concat(
        [
            tf.concat([blocks.get((i, j), tf.zeros([r, c], dtype)) for j, c in enumerate(cols)], 1)
            for i, r in enumerate(rows)
        ],
        0,
    )


@keras.saving.register_keras_serializable(package="tf_smvae")
class LinearGaussianHVAE(hierarchical.HierarchicalVAE):
    """Top-down hierarchical VAE with affine maps and a Gaussian likelihood, exact p(x).

    #### Examples

    ```python
    data = tf_smvae.data.linear_gaussian.simulate((10, 20), seed=0)
    model = tf_smvae.LinearGaussianHVAE(data.image_shape, latent_dims=(10, 20))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    model.fit(data.x, batch_size=1000, epochs=1000)
    gap = data.log_likelihood.mean() - model.exact_log_likelihood(data.x).numpy().mean()
    ```

    #### References

    [1] Hirt, M., Kreouzis, V. and Dellaportas, P. Learning variational autoencoders via
        MCMC speed measures. Statistics and Computing, 2024, section 6.4.
    [2] Tipping, M. E. and Bishop, C. M. Probabilistic principal component analysis.
        JRSS B 61, 1999.
    """

    def __init__(
        self,
        image_shape,
        latent_dims,
        residual=True,
        min_prior_scale=1e-3,
        noise_variance_init=1.0,
        likelihood="gaussian",
        likelihood_kwargs=None,
        **kwargs,
    ):
        """Builds the model.

        Args:
          image_shape: shape of one example (D values).
          latent_dims: (n_1, ..., n_L), top layer first.
          residual: x depends on d_L = A_L z_{L-1} + c_L as well as on z_L.
          min_prior_scale: s_min of the prior scales.
          noise_variance_init: initial diagonal of Sigma_x (learned).
          likelihood: "gaussian" or a `GaussianLikelihood`.
          likelihood_kwargs: arguments of a named likelihood; default: learned per-value
            variance starting at `noise_variance_init`.
          **kwargs: `HierarchicalVAE` / `VAE` arguments (and the kernel arguments of
            `SpeedMeasureLinearGaussianHVAE`).

        Raises:
          ConfigError: for a non-Gaussian likelihood.
        """
        self.noise_variance_init = float(noise_variance_init)
        if likelihood_kwargs is None:
            likelihood_kwargs = {"variance_init": self.noise_variance_init, "learn_variance": True}
        super().__init__(
            image_shape,
            latent_dims,
            residual=residual,
            min_prior_scale=min_prior_scale,
            likelihood=likelihood,
            likelihood_kwargs=likelihood_kwargs,
            **kwargs,
        )
        if not isinstance(self.likelihood, likelihoods.GaussianLikelihood):
            raise ConfigError(
                "LinearGaussianHVAE needs a Gaussian likelihood (argument 'likelihood'), got "
                f"{type(self.likelihood).__name__}."
            )

    def _make_prior(self, prior):
        del prior
        return layers_lib.LinearTopDownPrior(
            self.latent_dims, min_prior_scale=self.min_prior_scale, seed=self.seed
        )

    def _make_encoder(self):
        return layers_lib.LinearBottomUpEncoder(self.image_shape, self.latent_dims, seed=self.seed)

    def _make_decoder(self):
        input_dim = self.latent_dims[-1] * (2 if self.residual else 1)
        return layers_lib.LinearDecoder(self.image_shape, input_dim, seed=self.seed)

    def get_config(self):
        config = super().get_config()
        for name in ("feature_dim", "block_units", "network", "network_kwargs"):
            config.pop(name, None)
        config.update(noise_variance_init=self.noise_variance_init)
        return config

    # -- closed forms ------------------------------------------------------------------

    @property
    def data_dim(self):
        """D, the number of values of one example."""
        return math.prod(self.image_shape)

    def moments(self):
        """The model as a `LinearGaussianMoments` of float64 tensors.

        With z = G z + c + S eps (G strictly block-lower-triangular, the A_l), the prior is
        m = T c and Sigma_z = T S^2 T^T for T = (I - G)^{-1}; x = W_z z_L + W_d d_L + b + noise
        with d_L = G_L z + c_L gives W = W_z E_L + W_d G_L and b_x = b + W_d c_L.
        """
        dtype = tf.float64
        dims, last = self.latent_dims, self.num_layers - 1
        matrices = self.prior.matrices(dtype)
        blocks = {(i, i - 1): matrices[i][0] for i in range(1, self.num_layers)}
        transition = _blocks_to_matrix(blocks, dims, dims, dtype)
        offset = tf.concat([c for _, c, _ in matrices], 0)
        scale = tf.concat([s for _, _, s in matrices], 0)
        eye = tf.eye(self.latent_dim, dtype=dtype)
        # T = (I - G)^{-1}; I - G is unit lower triangular.
        total = tf.linalg.triangular_solve(eye - transition, eye, lower=True)
        mean = tf.linalg.matvec(total, offset)
        factor = total * scale[tf.newaxis, :]
        covariance = tf.matmul(factor, factor, transpose_b=True)
        kernel = tf.transpose(tf.cast(self.decoder.kernel, dtype))  # [D, n_L (+ n_L)]
        bias = tf.cast(self.decoder.bias, dtype)
        start = sum(dims[:last])
        selector = eye[start : start + dims[-1]]
        weight = tf.matmul(kernel[:, : dims[-1]], selector)
        if self.residual:
            feature_kernel = kernel[:, dims[-1] :]
            weight += tf.matmul(feature_kernel, transition[start : start + dims[-1]])
            bias += tf.linalg.matvec(feature_kernel, offset[start : start + dims[-1]])
        # The likelihood's variance is softplus(v); evaluated in float64 as well.
        variance = tf.math.softplus(tf.cast(self.likelihood.unconstrained_variance, dtype))
        variance = tf.broadcast_to(tf.reshape(variance, [-1]), [self.data_dim])
        return LinearGaussianMoments(mean, covariance, weight, bias, variance)

    def prior_covariance(self):
        """Sigma_z [d, d], float64."""
        return self.moments().prior_covariance

    def marginal(self):
        """(mean [D], covariance [D, D]) of p(x), float64."""
        m = self.moments()
        weight = m.observation_matrix
        covariance = tf.matmul(tf.matmul(weight, m.prior_covariance), weight, transpose_b=True)
        covariance += tf.linalg.diag(m.noise_variance)
        return tf.linalg.matvec(weight, m.prior_mean) + m.observation_bias, covariance

    def exact_log_likelihood(self, x):
        """log p(x) = log N(x; W m + b, W Sigma_z W^T + Sigma_x) per example.

        Args:
          x: data [N, *image_shape].

        Returns:
          float64 tensor [N].
        """
        mean, covariance = self.marginal()
        chol = tf.linalg.cholesky(covariance)
        diff = tf.reshape(tf.cast(x, tf.float64), [-1, self.data_dim]) - mean
        white = tf.linalg.triangular_solve(chol, tf.transpose(diff), lower=True)
        log_det = 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(chol)))
        quadratic = tf.reduce_sum(tf.square(white), axis=0)
        return -0.5 * (quadratic + log_det + self.data_dim * math.log(2.0 * math.pi))

    def posterior_covariance(self):
        """Sigma_{z|x} = Sigma_z - (W Sigma_z)^T Sigma_x_marginal^{-1} (W Sigma_z), float64.

        Returns:
          [d, d], symmetric; the same for every x.
        """
        m = self.moments()
        _, marginal_covariance = self.marginal()
        cross = tf.matmul(m.observation_matrix, m.prior_covariance)  # [D, d]
        chol = tf.linalg.cholesky(marginal_covariance)
        reduction = tf.matmul(cross, tf.linalg.cholesky_solve(chol, cross), transpose_a=True)
        covariance = m.prior_covariance - reduction
        return 0.5 * (covariance + tf.transpose(covariance))


@keras.saving.register_keras_serializable(package="tf_smvae")
class SpeedMeasureLinearGaussianHVAE(LinearGaussianHVAE):
    """`LinearGaussianHVAE` with an `MCMCRefinement`, built from keyword arguments (the
    grad*/ds* rows of Tables 4 and 5); see `SpeedMeasureVAE`.

    #### Examples

    ```python
    model = tf_smvae.SpeedMeasureLinearGaussianHVAE(
        (1, 10, 1), latent_dims=(10, 20), kernel="hmc", preconditioner="tril",
        num_steps=2, num_leapfrog_steps=3, mcmc_start_epoch=1000)
    kappa = tf_smvae.evaluation.preconditioned_condition_number(
        model.posterior_covariance(), model.refinement.kernel_parameters.dense_scale_tril())
    ```
    """

    def __init__(self, image_shape, latent_dims, refinement=None, **kwargs):
        """Args: as `LinearGaussianHVAE`, plus `refinement` or the refinement's arguments
        (see `SpeedMeasureVAE`)."""
        refinement = speed_measure_vae.refinement_from_options(refinement, kwargs)
        super().__init__(image_shape, latent_dims, refinement=refinement, **kwargs)
