"""The networks of the top-down hierarchical VAE: the generative top-down path and the
bottom-up inference path.

Layers are indexed top first: z_1 is farthest from x, z_L is the one x depends on.

- `TopDownPrior` (generative): deterministic features d_1 (a learned constant),
  d_l = f_l(z_{l-1}, d_{l-1}) (+ d_{l-1} with the residual skip), and the prior
  p(z_l | z_<l) = N(mu_l(d_l), (s_min + sigma_l(d_l))^2).
- `BottomUpEncoder` (inference): e_L = b(x) from a registered encoder network, e_l = b_l(e_{l+1}),
  and the residual posterior factors (mu'_l, sigma'_l)(e_l, d_l).

Both expose the same methods as their linear counterparts in `linear_gaussian_layers`, which
is all `HierarchicalVAE` uses: `initial_features`, `features`, `params` (prior) and
`bottom_up`, `posterior_params` (encoder).
"""

import keras
import tensorflow as tf

from tf_smvae import nn
from tf_smvae.nn.base import build_stack
from tf_smvae.nn.base import dense_stack
from tf_smvae.nn.base import kernel_initializer
from tf_smvae.util.errors import ConfigError

__all__ = [
    "BottomUpEncoder",
    "TopDownPrior",
    "broadcast_leading",
    "check_latent_dims",
]


def check_latent_dims(latent_dims):
    """Returns `latent_dims` as a tuple of positive ints, top layer first.

    Raises:
      ConfigError: naming `latent_dims` unless it is a non-empty sequence of positive ints.
    """
    try:
        dims = tuple(int(n) for n in latent_dims)
    except (TypeError, ValueError):
        raise ConfigError(f"latent_dims must be a sequence of ints, got {latent_dims!r}.") from None
    if not dims or any(n < 1 for n in dims) or any(n != m for n, m in zip(dims, latent_dims)):
        raise ConfigError(f"latent_dims must hold one positive int per layer, got {latent_dims!r}.")
    return dims


def broadcast_leading(tensors):
    """Broadcasts the leading (all but the last) dims of `tensors` against each other."""
    shape = tf.shape(tensors[0])[:-1]
    for tensor in tensors[1:]:
        shape = tf.broadcast_dynamic_shape(shape, tf.shape(tensor)[:-1])
    return [tf.broadcast_to(t, tf.concat([shape, tf.shape(t)[-1:]], 0)) for t in tensors]


class _Block(keras.layers.Layer):
    """Dense(units, activation) x len(units) -> Dense(output_dim): one small MLP, built."""

    def __init__(self, units, output_dim, input_dim, activation, seed, first_index, **kwargs):
        super().__init__(**kwargs)
        self.dense_layers = dense_stack(units, activation, seed, first_index)
        self.dense_layers.append(
            keras.layers.Dense(
                output_dim, kernel_initializer=kernel_initializer(seed, first_index + len(units))
            )
        )
        build_stack(self.dense_layers, (None, input_dim))
        self.built = True

    def call(self, inputs):
        for layer in self.dense_layers:
            inputs = layer(inputs)
        return inputs


def _split_scale(raw, scale_fn):
    loc, unconstrained = tf.split(raw, 2, axis=-1)
    return loc, scale_fn(unconstrained)


class _HierarchyLayer(keras.layers.Layer):
    """Shared arguments: layer sizes, feature width, blocks, scale function, seed."""

    def __init__(
        self,
        latent_dims,
        feature_dim=64,
        block_units=(64,),
        activation="relu",
        scale_fn="softplus",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.latent_dims = check_latent_dims(latent_dims)
        self.feature_dim = int(feature_dim)
        if self.feature_dim < 1:
            raise ConfigError(f"feature_dim must be >= 1, got {feature_dim!r}.")
        self.block_units = tuple(int(u) for u in block_units)
        self.activation = activation
        self.scale_fn = scale_fn
        self._scale = nn.SCALE_FNS.get(scale_fn, field="scale_fn")
        self.seed = seed

    def _block(self, input_dim, output_dim, index, name):
        """A built `_Block`; `index` spaces the initialiser seeds of different blocks."""
        first = index * (len(self.block_units) + 1)
        return _Block(
            self.block_units, output_dim, input_dim, self.activation, self.seed, first, name=name
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dims=list(self.latent_dims),
            feature_dim=self.feature_dim,
            block_units=list(self.block_units),
            activation=self.activation,
            scale_fn=self.scale_fn,
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="tf_smvae")
class TopDownPrior(_HierarchyLayer):
    """The generative top-down path: features d_l and the prior p(z_l | z_<l).

    #### References

    [1] Sonderby, C. K., Raiko, T., Maaloe, L., Sonderby, S. K. and Winther, O. Ladder
        variational autoencoders. NeurIPS 2016.
    [2] Vahdat, A. and Kautz, J. NVAE: A deep hierarchical variational autoencoder.
        NeurIPS 2020.
    """

    def __init__(self, latent_dims, residual=True, min_prior_scale=1e-3, **kwargs):
        """Creates and builds the path.

        Args:
          latent_dims: (n_1, ..., n_L), top layer first.
          residual: d_l = d_{l-1} + f_l(z_{l-1}, d_{l-1}) (else d_l = f_l(...)).
          min_prior_scale: s_min >= 0 added to every prior scale.
          **kwargs: `feature_dim`, `block_units`, `activation`, `scale_fn`, `seed` and
            `keras.layers.Layer` arguments.

        Raises:
          ConfigError: for bad sizes or a negative `min_prior_scale`.
        """
        super().__init__(latent_dims, **kwargs)
        self.residual = bool(residual)
        self.min_prior_scale = float(min_prior_scale)
        if self.min_prior_scale < 0.0:
            raise ConfigError(f"min_prior_scale must be >= 0, got {min_prior_scale!r}.")
        dims, width = self.latent_dims, self.feature_dim
        self.transitions = [
            self._block(n + width, width, i, f"transition_{i + 1}")
            for i, n in enumerate(dims[:-1], start=1)
        ]
        self.heads = [
            self._block(width, 2 * n, len(dims) + i, f"prior_head_{i + 1}")
            for i, n in enumerate(dims)
        ]
        self.initial = self.add_weight(shape=(width,), initializer="zeros", name="initial_features")
        self.built = True

    def initial_features(self, batch_shape):
        """d_1 broadcast to [*batch_shape, feature_dim]."""
        return tf.broadcast_to(self.initial, tf.concat([batch_shape, [self.feature_dim]], 0))

    def features(self, index, z_above, features_above):
        """d_l for layer `index` >= 1 (0-based) from z_{l-1} and d_{l-1}."""
        update = self.transitions[index - 1](tf.concat([z_above, features_above], -1))
        return features_above + update if self.residual else update

    def params(self, index, features):
        """(loc, scale) of p(z_l | z_<l), each [..., n_l]."""
        loc, scale = _split_scale(self.heads[index](features), self._scale)
        return loc, self.min_prior_scale + scale

    def get_config(self):
        config = super().get_config()
        config.update(residual=self.residual, min_prior_scale=self.min_prior_scale)
        return config


@keras.saving.register_keras_serializable(package="tf_smvae")
class BottomUpEncoder(_HierarchyLayer):
    """The inference path: bottom-up features e_l and the residual posterior factors.

    e_L = concat(loc, scale) of a registered encoder network with `feature_dim` outputs
    (a dense head with an identity half and a softplus half), e_l = b_l(e_{l+1}); the
    posterior of layer l is q(z_l | z_<l, x) = N(mu_l + sigma_l mu'_l, (sigma_l sigma'_l)^2)
    with (mu'_l, sigma'_l) = g_l(e_l, d_l) and (mu_l, sigma_l) the prior's.
    """

    def __init__(self, input_shape, latent_dims, network="mlp", network_kwargs=None, **kwargs):
        """Creates and builds the path.

        Args:
          input_shape: shape of one example.
          latent_dims: (n_1, ..., n_L), top layer first.
          network: registered network name of b(x) ("mlp", "conv").
          network_kwargs: extra constructor arguments of that network's encoder.
          **kwargs: `feature_dim`, `block_units`, `activation`, `scale_fn`, `seed` and
            `keras.layers.Layer` arguments.
        """
        super().__init__(latent_dims, **kwargs)
        self.event_shape = tuple(int(s) for s in input_shape)
        self.network = network
        self.network_kwargs = dict(network_kwargs or {})
        self.network_kwargs.pop("scale_fn", None)
        self.feature_network = nn.make_encoder(
            network, self.event_shape, self.feature_dim, **self.network_kwargs
        )
        dims, width = self.latent_dims, self.feature_dim
        # e_L has 2 * width entries (loc and scale of the network), e_l (l < L) width.
        widths = [width] * (len(dims) - 1) + [2 * width]
        self.bottom_up_blocks = [
            self._block(widths[i + 1], width, i, f"bottom_up_{i + 1}") for i in range(len(dims) - 1)
        ]
        self.heads = [
            self._block(widths[i] + width, 2 * n, len(dims) + i, f"posterior_head_{i + 1}")
            for i, n in enumerate(dims)
        ]
        self.built = True

    def bottom_up(self, x):
        """[e_1, ..., e_L] for images x [B, *input_shape], top layer first."""
        features = [tf.concat(self.feature_network(x), -1)]
        for block in reversed(self.bottom_up_blocks):
            features.insert(0, block(features[0]))
        return features

    def posterior_params(self, index, bottom_up, features):
        """(mu'_l, sigma'_l), each [..., n_l], from e_l and d_l (leading dims broadcast)."""
        inputs = tf.concat(broadcast_leading([bottom_up, features]), -1)
        return _split_scale(self.heads[index](inputs), self._scale)

    def call(self, x):
        return self.bottom_up(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_shape=list(self.event_shape),
            network=self.network,
            network_kwargs=self.network_kwargs,
        )
        return config
