"""The linear networks of `LinearGaussianHVAE`: every map affine, every variance a constant.

Same methods as the neural `hierarchical_layers` (all `HierarchicalVAE` calls), plus the
float64 matrices the closed forms of `LinearGaussianHVAE` are built from.

- `LinearTopDownPrior`: z_1 ~ N(c_1, diag(s_1^2)), z_l | z_{l-1} ~ N(A_l z_{l-1} + c_l,
  diag(s_l^2)), s_l = s_min + softplus(u_l); the deterministic feature d_l is the prior
  mean (d_1 = c_1, d_l = A_l z_{l-1} + c_l).
- `LinearBottomUpEncoder`: e_l = x for every layer (a chain of affine bottom-up maps adds
  nothing the affine heads cannot represent) and the residual posterior factors
  mu'_l = P_l x + Q_l d_l + p_l, sigma'_l = softplus(v_l).
- `LinearDecoder`: the Gaussian mean W [z_L; d_L] + b.
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.model.hierarchical_layers import broadcast_leading
from tf_smvae.model.hierarchical_layers import check_latent_dims
from tf_smvae.util.errors import ConfigError

tfb = tfp.bijectors

__all__ = ["LinearBottomUpEncoder", "LinearDecoder", "LinearTopDownPrior"]


def _affine(inputs, kernel, bias):
    """inputs [..., i] @ kernel [i, o] + bias [o] -> [..., o].

    `tensordot` (a reshape around one matmul): its gradient is a matmul too, ~13x faster
    under XLA on CPU than the gradient of the equivalent `einsum("...i,io->...o")`.
    """
    return tf.tensordot(inputs, kernel, 1) + bias


def _initializer(seed, index):
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed + index)


def _constant_scale_initializer(scale, floor=0.0):
    """Initialiser of u with floor + softplus(u) = scale."""
    return keras.initializers.Constant(float(tfb.Softplus().inverse(scale - floor)))


class _LinearLayer(keras.layers.Layer):
    def __init__(self, latent_dims, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.latent_dims = check_latent_dims(latent_dims)
        self.seed = seed

    def get_config(self):
        config = super().get_config()
        config.update(latent_dims=list(self.latent_dims), seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="tf_smvae")
class LinearTopDownPrior(_LinearLayer):
    """The linear-Gaussian top-down prior (see the module docstring)."""

    def __init__(self, latent_dims, min_prior_scale=1e-3, seed=None, **kwargs):
        """Creates the weights: c_1, and A_l, c_l per lower layer, u_l per layer.

        Args:
          latent_dims: (n_1, ..., n_L), top layer first.
          min_prior_scale: s_min in [0, 1); the scales start at 1.
          seed: optional int seeding the A_l initialisers.
          **kwargs: `keras.layers.Layer` arguments.
        """
        super().__init__(latent_dims, seed, **kwargs)
        self.min_prior_scale = float(min_prior_scale)
        if not 0.0 <= self.min_prior_scale < 1.0:
            raise ConfigError(f"min_prior_scale must be in [0, 1), got {min_prior_scale!r}.")
        dims = self.latent_dims
        self.top_loc = self.add_weight(shape=(dims[0],), initializer="zeros", name="top_loc")
        self.kernels = [
            self.add_weight(
                shape=(m, n), initializer=_initializer(seed, i), name=f"transition_kernel_{i + 2}"
            )
            for i, (m, n) in enumerate(zip(dims[:-1], dims[1:]))
        ]
        self.biases = [
            self.add_weight(shape=(n,), initializer="zeros", name=f"transition_bias_{i + 2}")
            for i, n in enumerate(dims[1:])
        ]
        self.unconstrained_scales = [
            self.add_weight(
                shape=(n,),
                initializer=_constant_scale_initializer(1.0, self.min_prior_scale),
                name=f"unconstrained_scale_{i + 1}",
            )
            for i, n in enumerate(dims)
        ]
        self.built = True

    def initial_features(self, batch_shape):
        """d_1 = c_1 broadcast to [*batch_shape, n_1]."""
        return tf.broadcast_to(self.top_loc, tf.concat([batch_shape, [self.latent_dims[0]]], 0))

    def features(self, index, z_above, features_above):
        """d_l = A_l z_{l-1} + c_l (`features_above` is not used)."""
        del features_above
        return _affine(z_above, self.kernels[index - 1], self.biases[index - 1])

    def scale(self, index):
        """s_l [n_l]."""
        return self.min_prior_scale + tf.math.softplus(self.unconstrained_scales[index])

    def params(self, index, features):
        """(d_l, s_l): the prior mean is the feature itself."""
        return features, self.scale(index)

    def matrices(self, dtype=tf.float64):
        """[(A_l [n_l, n_{l-1}] or None, c_l [n_l], s_l [n_l])] top first, computed in `dtype`."""
        cast = lambda t: tf.cast(tf.convert_to_tensor(t), dtype)  # noqa: E731
        scales = [
            self.min_prior_scale + tf.math.softplus(cast(u)) for u in self.unconstrained_scales
        ]
        out = [(None, cast(self.top_loc), scales[0])]
        for index in range(1, len(self.latent_dims)):
            kernel, bias = self.kernels[index - 1], self.biases[index - 1]
            out.append((tf.transpose(cast(kernel)), cast(bias), scales[index]))
        return out

    def get_config(self):
        config = super().get_config()
        config.update(min_prior_scale=self.min_prior_scale)
        return config


@keras.saving.register_keras_serializable(package="tf_smvae")
class LinearBottomUpEncoder(_LinearLayer):
    """Affine residual posterior heads with constant scales (see the module docstring)."""

    def __init__(self, input_shape, latent_dims, seed=None, **kwargs):
        """Creates the weights: (P_l; Q_l) as one kernel, p_l and v_l per layer.

        Args:
          input_shape: shape of one example (flattened to D values).
          latent_dims: (n_1, ..., n_L), top layer first.
          seed: optional int seeding the kernel initialisers.
          **kwargs: `keras.layers.Layer` arguments.
        """
        super().__init__(latent_dims, seed, **kwargs)
        self.event_shape = tuple(int(s) for s in input_shape)
        self.data_dim = math.prod(self.event_shape)
        self.kernels = [
            self.add_weight(
                shape=(self.data_dim + n, n),
                initializer=_initializer(seed, 100 + i),
                name=f"posterior_kernel_{i + 1}",
            )
            for i, n in enumerate(self.latent_dims)
        ]
        self.biases = [
            self.add_weight(shape=(n,), initializer="zeros", name=f"posterior_bias_{i + 1}")
            for i, n in enumerate(self.latent_dims)
        ]
        self.unconstrained_scales = [
            self.add_weight(
                shape=(n,),
                initializer=_constant_scale_initializer(1.0),
                name=f"posterior_unconstrained_scale_{i + 1}",
            )
            for i, n in enumerate(self.latent_dims)
        ]
        self.built = True

    def bottom_up(self, x):
        """[x, ..., x] flattened to [B, D], one per layer."""
        flat = tf.reshape(x, [-1, self.data_dim])
        return [flat] * len(self.latent_dims)

    def posterior_params(self, index, bottom_up, features):
        """(mu'_l = P_l x + Q_l d_l + p_l, sigma'_l = softplus(v_l))."""
        inputs = tf.concat(broadcast_leading([bottom_up, features]), -1)
        loc = _affine(inputs, self.kernels[index], self.biases[index])
        return loc, tf.math.softplus(self.unconstrained_scales[index])

    def call(self, x):
        return self.bottom_up(x)

    def get_config(self):
        config = super().get_config()
        config.update(input_shape=list(self.event_shape))
        return config


@keras.saving.register_keras_serializable(package="tf_smvae")
class LinearDecoder(keras.layers.Layer):
    """[..., input_dim] -> W inputs + b reshaped to [..., *output_shape, 1]."""

    def __init__(self, output_shape, input_dim, seed=None, **kwargs):
        """Creates W [input_dim, D] (Glorot) and b [D] (zeros).

        Args:
          output_shape: shape of one example.
          input_dim: n_L, or 2 n_L when x also depends on d_L.
          seed: optional int seeding the initialiser.
          **kwargs: `keras.layers.Layer` arguments.
        """
        super().__init__(**kwargs)
        self.event_shape = tuple(int(s) for s in output_shape)
        self.input_dim = int(input_dim)
        self.seed = seed
        data_dim = math.prod(self.event_shape)
        self.kernel = self.add_weight(
            shape=(self.input_dim, data_dim), initializer=_initializer(seed, 200), name="kernel"
        )
        self.bias = self.add_weight(shape=(data_dim,), initializer="zeros", name="bias")
        self.built = True

    def call(self, inputs):
        mean = _affine(inputs, self.kernel, self.bias)
        shape = tf.concat([tf.shape(inputs)[:-1], list(self.event_shape), [1]], 0)
        return tf.reshape(mean, shape)

    def get_config(self):
        config = super().get_config()
        config.update(output_shape=list(self.event_shape), input_dim=self.input_dim, seed=self.seed)
        return config
