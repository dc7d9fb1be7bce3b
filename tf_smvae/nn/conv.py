"""Convolutional encoder and decoder for small images (28x28x1, 32x32x3, any H, W that fit)."""

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
from tf_smvae.util.errors import ConfigError

__all__ = [
    "ConvDecoder",
    "ConvEncoder",
]


def _check_image_shape(shape, filters, field):
    """Checks that `shape` is (H, W, C) with H and W divisible by 2 ** len(filters).

    Returns:
      (H, W) after len(filters) stride-2 convolutions.

    Raises:
      ConfigError: naming `field` otherwise.
    """
    if not filters:
        raise ConfigError("filters must name at least one convolution, got ().")
    factor = 2 ** len(filters)
    if len(shape) != 3 or shape[0] % factor or shape[1] % factor:
        raise ConfigError(
            f"{field} {shape} is not supported by the conv network: it needs (H, W, C) with H "
            f"and W divisible by {factor} (one halving per entry of filters={filters}), "
            "e.g. (28, 28, 1) or (32, 32, 3); use network 'mlp' for other shapes."
        )
    return shape[0] // factor, shape[1] // factor


@keras.saving.register_keras_serializable(package="tf_smvae")
class ConvEncoder(BaseEncoder):
    """Stride-2 convolutions -> flatten -> Dense(hidden, act) -> Dense(2 d) -> (loc, scale).

    Each entry of `filters` is one Conv2D(kernel_size, stride 2, "same") halving H and W.

    #### Examples

    ```python
    encoder = ConvEncoder(input_shape=(32, 32, 3), latent_dim=64)
    loc, scale = encoder(x)  # x [B, 32, 32, 3] -> [B, 64], [B, 64]
    ```
    """

    def __init__(
        self,
        input_shape,
        latent_dim,
        filters=(32, 64),
        kernel_size=4,
        hidden_units=(256,),
        activation="relu",
        scale_fn="softplus",
        seed=None,
        **kwargs,
    ):
        """Creates and builds the encoder.

        Args:
          input_shape: (H, W, C), H and W divisible by 2 ** len(filters).
          latent_dim: d, the dimension of z.
          filters: channels of the stride-2 convolutions, in order.
          kernel_size: side of the square convolution kernels.
          hidden_units: widths of the dense layers between the convolutions and the head.
          activation: Keras activation of the hidden layers.
          scale_fn: "softplus" or "exp" (scale = exp(0.5 * logvar)).
          seed: optional int seeding the kernel initialisers.
          **kwargs: passed to `keras.layers.Layer`.

        Raises:
          ConfigError: an unsupported `input_shape`, bad sizes or an unknown scale_fn.
        """
        super().__init__(input_shape, latent_dim, activation, scale_fn, seed, **kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.kernel_size = int(kernel_size)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        _check_image_shape(self.event_shape, self.filters, "input_shape")
        self._convs = [
            keras.layers.Conv2D(
                f,
                self.kernel_size,
                strides=2,
                padding="same",
                activation=activation,
                kernel_initializer=kernel_initializer(seed, i),
            )
            for i, f in enumerate(self.filters)
        ]
        self._hidden = dense_stack(self.hidden_units, activation, seed, len(self._convs))
        self._head = keras.layers.Dense(
            2 * self.latent_dim,
            kernel_initializer=kernel_initializer(seed, len(self._convs) + len(self._hidden)),
        )
        self.build((None, *self.event_shape))

    def build(self, input_shape):
        shape = build_stack(self._convs, (input_shape[0], *self.event_shape))
        build_stack([*self._hidden, self._head], (shape[0], math.prod(shape[1:])))

    def _features(self, x):
        h = x
        for layer in self._convs:
            h = layer(h)
        h = tf.reshape(h, (tf.shape(h)[0], math.prod(h.shape[1:])))
        for layer in self._hidden:
            h = layer(h)
        return self._head(h)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=list(self.filters),
            kernel_size=self.kernel_size,
            hidden_units=list(self.hidden_units),
        )
        return config


@keras.saving.register_keras_serializable(package="tf_smvae")
class ConvDecoder(BaseDecoder):
    """z -> Dense(hidden) -> Dense(h0 w0 f) -> reshape -> stride-2 Conv2DTranspose up.

    The transposed convolutions mirror `ConvEncoder`: channels reversed(filters[:-1]), then a
    linear one with C * num_params channels, each doubling H and W.

    #### Examples

    ```python
    # SVHN-sized colour images: two transposed convolutions take 8 x 8 to 32 x 32.
    decoder = ConvDecoder(output_shape=(32, 32, 3), latent_dim=64, num_params=1)
    locs = decoder(z)  # z [N, 64] -> [N, 32, 32, 3, 1]
    ```
    """

    def __init__(
        self,
        output_shape,
        latent_dim,
        num_params,
        filters=(32, 64),
        kernel_size=4,
        hidden_units=(256,),
        activation="relu",
        seed=None,
        **kwargs,
    ):
        """Creates and builds the decoder.

        Args:
          output_shape: (H, W, C), H and W divisible by 2 ** len(filters).
          latent_dim: d, the dimension of z.
          num_params: likelihood parameters per data value.
          filters: channels of the matching encoder's convolutions, in encoder order.
          kernel_size: side of the square convolution kernels.
          hidden_units: widths of the dense layers before the projection.
          activation: Keras activation of the hidden layers.
          seed: optional int seeding the kernel initialisers.
          **kwargs: passed to `keras.layers.Layer`.

        Raises:
          ConfigError: an unsupported `output_shape` or bad sizes.
        """
        super().__init__(output_shape, latent_dim, num_params, activation, seed, **kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.kernel_size = int(kernel_size)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        height, width = _check_image_shape(self.event_shape, self.filters, "output_shape")
        self._start_shape = (height, width, self.filters[-1])
        self._hidden = dense_stack(self.hidden_units, activation, seed)
        self._project = keras.layers.Dense(
            math.prod(self._start_shape),
            activation=activation,
            kernel_initializer=kernel_initializer(seed, len(self._hidden)),
        )
        channels = [*reversed(self.filters[:-1]), self.event_shape[-1] * self.num_params]
        activations = [activation] * (len(channels) - 1) + [None]
        first = len(self._hidden) + 1
        self._deconvs = [
            keras.layers.Conv2DTranspose(
                c,
                self.kernel_size,
                strides=2,
                padding="same",
                activation=act,
                kernel_initializer=kernel_initializer(seed, first + i),
            )
            for i, (c, act) in enumerate(zip(channels, activations))
        ]
        self.build((None, self.latent_dim))

    def build(self, input_shape):
        build_stack([*self._hidden, self._project], (input_shape[0], self.latent_dim))
        build_stack(self._deconvs, (input_shape[0], *self._start_shape))

    def _features(self, z):
        h = z
        for layer in [*self._hidden, self._project]:
            h = layer(h)
        h = tf.reshape(h, (-1, *self._start_shape))
        for layer in self._deconvs:
            h = layer(h)
        return h

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=list(self.filters),
            kernel_size=self.kernel_size,
            hidden_units=list(self.hidden_units),
        )
        return config


NETWORKS.register("conv")(Network(encoder_cls=ConvEncoder, decoder_cls=ConvDecoder))
