"""The network registry: a name ("mlp", "conv") -> an (encoder, decoder) class pair."""

import collections

from tf_smvae.util.registry import Registry

__all__ = [
    "NETWORKS",
    "Network",
    "make_decoder",
    "make_encoder",
]

Network = collections.namedtuple("Network", ["encoder_cls", "decoder_cls"])
Network.__doc__ = "An encoder class and its matching decoder class, registered under one name."

NETWORKS = Registry("network")


def make_encoder(name, input_shape, latent_dim, **kwargs):
    """Builds the encoder of the network registered as `name`.

    Args:
      name: registered network name ("mlp", "conv").
      input_shape: shape of one example, e.g. (28, 28, 1).
      latent_dim: d, the dimension of z.
      **kwargs: further constructor arguments of the encoder class.

    Returns:
      A built encoder layer: x [..., *input_shape] -> (loc, scale), each [..., latent_dim].

    Raises:
      ConfigError: unknown `name` (the message lists the known ones) or bad arguments.
    """
    network = NETWORKS.get(name, field="network")
    return network.encoder_cls(input_shape=input_shape, latent_dim=latent_dim, **kwargs)


def make_decoder(name, output_shape, latent_dim, num_params, **kwargs):
    """Builds the decoder of the network registered as `name`.

    Args:
      name: registered network name ("mlp", "conv").
      output_shape: shape of one example, e.g. (28, 28, 1).
      latent_dim: d, the dimension of z.
      num_params: likelihood parameters per data value.
      **kwargs: further constructor arguments of the decoder class.

    Returns:
      A built decoder layer: z [..., latent_dim] -> [..., *output_shape, num_params].

    Raises:
      ConfigError: unknown `name` (the message lists the known ones) or bad arguments.
    """
    network = NETWORKS.get(name, field="network")
    return network.decoder_cls(
        output_shape=output_shape, latent_dim=latent_dim, num_params=num_params, **kwargs
    )
