"""tf_smvae: VAEs whose posterior samples are refined by short-run adaptive MCMC.

Keras 3 with the TensorFlow backend; importing this package sets
`KERAS_BACKEND=tensorflow` before Keras loads.
"""

from tf_smvae import _backend  # noqa: F401  (must run before keras is imported)

__version__ = "0.1.0"
