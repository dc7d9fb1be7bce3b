"""Shared utilities: registries, seeds, errors."""

from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError
from tf_smvae.util.registry import Registry
from tf_smvae.util.seeds import as_seed
from tf_smvae.util.seeds import split_seed

__all__ = [
    "ConfigError",
    "DataError",
    "Registry",
    "as_seed",
    "split_seed",
]
