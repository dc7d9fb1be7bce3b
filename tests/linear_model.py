"""A VAE whose marginal likelihood is known exactly, shared by several tests.

Decoder x = W z + b + s * noise with z ~ N(0, I), so p(x) = N(b, W W^T + s^2 I), and the
posterior is N(m(x), S) with S = (I + W^T W / s^2)^{-1}, m(x) = S W^T (x - b) / s^2. The
encoder is set to that posterior's mean map and marginal standard deviations.
"""

import keras
import numpy as np
import tensorflow as tf

import tf_smvae
from tf_smvae.model import likelihoods


@keras.saving.register_keras_serializable(package="tf_smvae_tests")
class LinearDecoder(keras.layers.Layer):
    """z [N, d] -> W z + b reshaped to [N, 1, 1, D, 1]."""

    def __init__(self, weight, bias, **kwargs):
        super().__init__(**kwargs)
        self.weight_init = np.asarray(weight, np.float32)
        self.bias_init = np.asarray(bias, np.float32)
        self.kernel = self.add_weight(
            shape=self.weight_init.shape, initializer=keras.initializers.Constant(self.weight_init)
        )
        self.bias = self.add_weight(
            shape=self.bias_init.shape, initializer=keras.initializers.Constant(self.bias_init)
        )

    def call(self, z):
        mean = tf.matmul(z, self.kernel, transpose_b=True) + self.bias
        return tf.reshape(mean, [-1, 1, 1, self.bias_init.shape[0], 1])

    def get_config(self):
        return {
            **super().get_config(),
            "weight": self.weight_init.tolist(),
            "bias": self.bias_init.tolist(),
        }


@keras.saving.register_keras_serializable(package="tf_smvae_tests")
class LinearEncoder(keras.layers.Layer):
    """x [B, 1, 1, D] -> (A (x - b), sigma): a fixed Gaussian posterior approximation."""

    def __init__(self, mean_map, bias, scale, **kwargs):
        super().__init__(**kwargs)
        self.mean_map = np.asarray(mean_map, np.float32)
        self.bias_value = np.asarray(bias, np.float32)
        self.scale_value = np.asarray(scale, np.float32)

    def call(self, x):
        flat = tf.reshape(x, [-1, self.bias_value.shape[0]]) - self.bias_value
        loc = tf.matmul(flat, self.mean_map, transpose_b=True)
        return loc, tf.ones_like(loc) * self.scale_value

    def get_config(self):
        return {
            **super().get_config(),
            "mean_map": self.mean_map.tolist(),
            "bias": self.bias_value.tolist(),
            "scale": self.scale_value.tolist(),
        }


class LinearGaussianCase:
    """Weights, data and exact answers of one small linear-Gaussian VAE."""

    def __init__(self, data_dim=5, latent_dim=3, noise_std=0.5, num_points=20, seed=0):
        rng = np.random.default_rng(seed)
        self.bias = rng.normal(size=data_dim)
        self.noise_var = noise_std**2
        self.data_dim, self.latent_dim = data_dim, latent_dim
        self.set_weight(rng.normal(size=(data_dim, latent_dim)))
        z = rng.normal(size=(num_points, latent_dim))
        x = z @ self.weight.T + self.bias + noise_std * rng.normal(size=(num_points, data_dim))
        self.x = x.reshape(num_points, 1, 1, data_dim).astype(np.float32)

    def set_weight(self, weight):
        """Replaces W and the exact posterior that depends on it."""
        self.weight = np.asarray(weight, np.float64)
        self.posterior_cov = np.linalg.inv(
            np.eye(self.latent_dim) + self.weight.T @ self.weight / self.noise_var
        )
        self.mean_map = self.posterior_cov @ self.weight.T / self.noise_var

    def exact_log_likelihood(self):
        """log N(x; b, W W^T + s^2 I) per example, float64."""
        cov = self.weight @ self.weight.T + self.noise_var * np.eye(self.data_dim)
        diff = self.x.reshape(-1, self.data_dim).astype(np.float64) - self.bias
        _, logdet = np.linalg.slogdet(cov)
        quad = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
        return -0.5 * (quad + logdet + self.data_dim * np.log(2 * np.pi))

    def model(self, scale_factor=1.0):
        """The VAE with the exact linear decoder and a Gaussian posterior approximation."""
        scale = np.sqrt(np.diag(self.posterior_cov)) * scale_factor
        likelihood = likelihoods.GaussianLikelihood(
            event_shape=(1, 1, self.data_dim), variance_init=self.noise_var, learn_variance=False
        )
        return tf_smvae.VAE(
            image_shape=(1, 1, self.data_dim),
            latent_dim=self.latent_dim,
            likelihood=likelihood,
            encoder=LinearEncoder(self.mean_map, self.bias, scale),
            decoder=LinearDecoder(self.weight, self.bias),
        )
