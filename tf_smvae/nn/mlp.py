"""Multi-layer perceptron encoder and decoder (the paper's 2 x 200 ReLU networks)."""

import math

import keras
import tensorflow as tf

from tf_smvae.nn.base import BaseDecoder
from tf_smvae.nn.base import BaseEncoder
from tf_smvae.nn.base import build_stack
from tf_smvae.nn.base import dense_stack
from tf_smvae.nn.base import kernel_initializer
from tf_smvae.nn.networks import NETWORKS
from tf_smvae.nn.networks import Network

__all__ = [
    "MLPDecoder",
    "MLPEncoder",
]


@keras.saving.register_keras_serializable(package="tf_smvae")
class MLPEncoder(BaseEncoder):
    """Flatten -> Dense(h_1, act) -> ... -> Dense(2 d) -> (loc, scale).

    #### Examples

    ```python
    encoder = MLPEncoder(input_shape=(28, 28, 1), latent_dim=10)
    loc, scale = encoder(x)  # x [B, 28, 28, 1] -> [B, 10], [B, 10]
    ```
    """

    def __init__(
        self,
        input_shape,
        latent_dim,
        hidden_units=(200, 200),
        activation="relu",
        scale_fn="softplus",
        seed=None,
        **kwargs,
    ):
        """Creates and builds the encoder.

        Args:
          input_shape: shape of one example, any rank, e.g. (28, 28, 1).
          latent_dim: d, the dimension of z.
          hidden_units: widths of the hidden layers (paper: two of 200).
          activation: Keras activation of the hidden layers.
          scale_fn: "softplus" or "exp" (scale = exp(0.5 * logvar)).
          seed: optional int seeding the kernel initialisers.
          **kwargs: passed to `keras.layers.Layer`.

        Raises:
          ConfigError: for bad shapes, sizes or an unknown scale_fn.
        """
        super().__init__(input_shape, latent_dim, activation, scale_fn, seed, **kwargs)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self._hidden = dense_stack(self.hidden_units, activation, seed)
        self._head = keras.layers.Dense(
            2 * self.latent_dim, kernel_initializer=kernel_initializer(seed, len(self._hidden))
        )
        self.build((None, *self.event_shape))

    def build(self, input_shape):
        shape = (input_shape[0], math.prod(self.event_shape))
        build_stack([*self._hidden, self._head], shape)

    def _features(self, x):
        h = tf.reshape(x, (-1, math.prod(self.event_shape)))
        for layer in self._hidden:
            h = layer(h)
        return self._head(h)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=list(self.hidden_units))
        return config


@keras.saving.register_keras_serializable(package="tf_smvae")
class MLPDecoder(BaseDecoder):
    """z -> Dense(h_1, act) -> ... -> Dense(prod(output_shape) * num_params) -> reshape.

    #### Examples

    ```python
    decoder = MLPDecoder(output_shape=(28, 28, 1), latent_dim=10, num_params=1)
    logits = decoder(z)  # z [N, 10] -> [N, 28, 28, 1, 1]
    vectors = MLPDecoder(output_shape=(100,), latent_dim=50, num_params=1, hidden_units=())
    means = vectors(z50)  # z50 [N, 50] -> [N, 100, 1]: a linear map, as the linear-Gaussian data
    ```
    """

    def __init__(
        self,
        output_shape,
        latent_dim,
        num_params,
        hidden_units=(200, 200),
        activation="relu",
        seed=None,
        **kwargs,
    ):
        """Creates and builds the decoder.

        Args:
          output_shape: shape of one example, any rank, e.g. (28, 28, 1).
          latent_dim: d, the dimension of z.
          num_params: likelihood parameters per data value.
          hidden_units: widths of the hidden layers (paper: two of 200).
          activation: Keras activation of the hidden layers.
          seed: optional int seeding the kernel initialisers.
          **kwargs: passed to `keras.layers.Layer`.

        Raises:
          ConfigError: for bad shapes or sizes.
        """
        super().__init__(output_shape, latent_dim, num_params, activation, seed, **kwargs)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self._hidden = dense_stack(self.hidden_units, activation, seed)
        self._head = keras.layers.Dense(
            math.prod(self.event_shape) * self.num_params,
            kernel_initializer=kernel_initializer(seed, len(self._hidden)),
        )
        self.build((None, self.latent_dim))

    def build(self, input_shape):
        build_stack([*self._hidden, self._head], (input_shape[0], self.latent_dim))

    def _features(self, z):
        h = z
        for layer in self._hidden:
            h = layer(h)
        return self._head(h)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=list(self.hidden_units))
        return config


NETWORKS.register("mlp")(Network(encoder_cls=MLPEncoder, decoder_cls=MLPDecoder))
