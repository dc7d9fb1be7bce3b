"""Encoders and decoders as Keras layers returning tensors, looked up by name in `NETWORKS`.

An encoder maps x [..., *input_shape] to (loc, scale) of q(z|x) = N(loc, diag(scale^2)); a
decoder maps z [..., latent_dim] to likelihood parameters [..., *output_shape, num_params].
"""

from tf_smvae.nn.base import SCALE_FNS
from tf_smvae.nn.conv import ConvDecoder
from tf_smvae.nn.conv import ConvEncoder
from tf_smvae.nn.mlp import MLPDecoder
from tf_smvae.nn.mlp import MLPEncoder
from tf_smvae.nn.networks import NETWORKS
from tf_smvae.nn.networks import Network
from tf_smvae.nn.networks import make_decoder
from tf_smvae.nn.networks import make_encoder

__all__ = [
    "NETWORKS",
    "SCALE_FNS",
    "ConvDecoder",
    "ConvEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "Network",
    "make_decoder",
    "make_encoder",
]
