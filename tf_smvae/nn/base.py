"""Shared machinery of encoders and decoders: shape checks, leading dims, scale functions.

An encoder maps data x [..., *input_shape] to the parameters (loc [..., d], scale [..., d]) of
q(z|x) = N(loc, diag(scale^2)); a decoder maps z [..., d] to likelihood parameters
[..., *output_shape, num_params]. Any number of leading dims is accepted: they are flattened
into one batch dim around the network and restored afterwards.
"""

import keras
import tensorflow as tf

from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry

__all__ = [
    "SCALE_FNS",
    "BaseDecoder",
    "BaseEncoder",
    "build_stack",
    "dense_stack",
    "kernel_initializer",
]

SCALE_FNS = Registry("encoder scale function")


@SCALE_FNS.register("softplus")
def _softplus_scale(raw):
    """scale = softplus(raw); positive for every finite raw above about -87 (float32)."""
    return tf.nn.softplus(raw)


@SCALE_FNS.register("exp")
def _exp_scale(raw):
    """scale = exp(0.5 * raw), i.e. raw is log sigma^2 (the "logvar" convention)."""
    return tf.exp(0.5 * raw)


def _as_shape(shape, field):
    """Converts `shape` into a tuple of positive Python ints; ConfigError naming `field`."""
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"{field} must be a sequence of ints, got {shape!r}.") from None
    if not shape or any(s <= 0 for s in shape):
        raise ConfigError(f"{field} must be a non-empty sequence of positive ints, got {shape}.")
    return shape


def _as_positive_int(value, field):
    if int(value) != value or value < 1:
        raise ConfigError(f"{field} must be a positive int, got {value!r}.")
    return int(value)


def kernel_initializer(seed, index):
    """Glorot-uniform kernel initialiser, seeded per sub-layer when `seed` is given."""
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed + index)


def dense_stack(units, activation, seed, first_index=0):
    """Dense layers with the given widths and activation, kernels seeded by position."""
    return [
        keras.layers.Dense(
            width, activation=activation, kernel_initializer=kernel_initializer(seed, i)
        )
        for i, width in enumerate(units, start=first_index)
    ]


def build_stack(layers, shape):
    """Builds `layers` in sequence from input `shape`; returns the output shape."""
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape


def _flatten_leading(x, event_shape):
    """Reshapes x [..., *event_shape] into [N, *event_shape]; returns it and the leading shape."""
    leading = tf.shape(x)[: tf.rank(x) - len(event_shape)]
    return tf.reshape(x, (-1, *event_shape)), leading


def _restore_leading(y, leading, event_shape):
    """Reshapes y [N, *event_shape] into [*leading, *event_shape]."""
    return tf.reshape(y, tf.concat([leading, tf.constant(event_shape, tf.int32)], axis=0))


class BaseEncoder(keras.layers.Layer):
    """Base of the Gaussian encoders q(z|x) = N(loc(x), diag(scale(x)^2)).

    Subclasses create their sub-layers in `__init__`, implement `_features(x)` mapping
    x [N, *input_shape] to raw outputs [N, 2 * latent_dim] (loc first, raw scale second), build
    their sub-layers in `build`, and call `self.build((None, *input_shape))` at the end of
    `__init__`, so that the weights exist right after construction.
    """

    def __init__(
        self, input_shape, latent_dim, activation="relu", scale_fn="softplus", seed=None, **kwargs
    ):
        """Validates and stores the arguments common to all encoders.

        Args:
          input_shape: shape of one example, e.g. (28, 28, 1).
          latent_dim: d, the dimension of z.
          activation: Keras activation name of the hidden layers.
          scale_fn: "softplus" (scale = softplus(raw)) or "exp" (scale = exp(0.5 * raw)).
          seed: optional int; seeds the kernel initialisers (sub-layer i gets seed + i).
          **kwargs: passed to `keras.layers.Layer` (name, dtype, trainable).

        Raises:
          ConfigError: for a bad shape, latent_dim or scale_fn.
        """
        super().__init__(**kwargs)
        self.event_shape = _as_shape(input_shape, "input_shape")
        self.latent_dim = _as_positive_int(latent_dim, "latent_dim")
        self.activation = activation
        self.scale_fn = scale_fn
        self._scale = SCALE_FNS.get(scale_fn, field="scale_fn")
        self.seed = seed

    def call(self, x):
        """Encodes x.

        Args:
          x: float tensor [..., *input_shape].

        Returns:
          A tuple (loc, scale) of tensors [..., latent_dim]; scale > 0.
        """
        flat, leading = _flatten_leading(x, self.event_shape)
        loc, raw = tf.split(self._features(flat), 2, axis=-1)
        scale = self._scale(raw)
        shape = (self.latent_dim,)
        return _restore_leading(loc, leading, shape), _restore_leading(scale, leading, shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_shape=list(self.event_shape),
            latent_dim=self.latent_dim,
            activation=self.activation,
            scale_fn=self.scale_fn,
            seed=self.seed,
        )
        return config


class BaseDecoder(keras.layers.Layer):
    """Base of the decoders z -> likelihood parameters [..., *output_shape, num_params].

    Subclasses implement `_features(z)` mapping z [N, latent_dim] to a tensor with
    N * prod(output_shape) * num_params entries, build their sub-layers in `build`, and call
    `self.build((None, latent_dim))` at the end of `__init__`.
    """

    def __init__(
        self, output_shape, latent_dim, num_params, activation="relu", seed=None, **kwargs
    ):
        """Validates and stores the arguments common to all decoders.

        Args:
          output_shape: shape of one example, e.g. (28, 28, 1).
          latent_dim: d, the dimension of z.
          num_params: likelihood parameters per data value (1 for Bernoulli logits).
          activation: Keras activation name of the hidden layers.
          seed: optional int; seeds the kernel initialisers (sub-layer i gets seed + i).
          **kwargs: passed to `keras.layers.Layer` (name, dtype, trainable).

        Raises:
          ConfigError: for a bad shape, latent_dim or num_params.
        """
        super().__init__(**kwargs)
        self.event_shape = _as_shape(output_shape, "output_shape")
        self.latent_dim = _as_positive_int(latent_dim, "latent_dim")
        self.num_params = _as_positive_int(num_params, "num_params")
        self.activation = activation
        self.seed = seed

    def call(self, z):
        """Decodes z.

        Args:
          z: float tensor [..., latent_dim].

        Returns:
          Likelihood parameters [..., *output_shape, num_params].
        """
        flat, leading = _flatten_leading(z, (self.latent_dim,))
        params = tf.reshape(self._features(flat), (-1, *self.event_shape, self.num_params))
        return _restore_leading(params, leading, (*self.event_shape, self.num_params))

    def get_config(self):
        config = super().get_config()
        config.update(
            output_shape=list(self.event_shape),
            latent_dim=self.latent_dim,
            num_params=self.num_params,
            activation=self.activation,
            seed=self.seed,
        )
        return config
