"""Stateless seed handling: every random function takes an int32[2] seed.

Seeds are split with a salt, so that each consumer gets its own named stream and
adding a consumer does not change the others (the TFP convention, see TFP's
PRNGS.md).
"""

import tensorflow as tf
import tensorflow_probability as tfp


def as_seed(seed):
    """Converts an int, a pair, or an int32[2] tensor into an int32[2] tensor.

    Args:
      seed: Python int, pair of ints, or int32/int64 tensor of shape [2].

    Returns:
      int32 tensor of shape [2].
    """
    if isinstance(seed, int):
        return tf.constant([0, seed], dtype=tf.int32)
    return tfp.random.sanitize_seed(seed)


def split_seed(seed, n=2, salt=""):
    """Splits `seed` into `n` independent int32[2] seeds.

    Args:
      seed: anything `as_seed` accepts.
      n: number of seeds returned (Python int).
      salt: string naming the consumer, so that different call sites that split the
        same seed get different streams.

    Returns:
      A tuple of `n` int32[2] tensors.
    """
    parts = tfp.random.split_seed(as_seed(seed), n=n, salt=salt)
    return tuple(tf.unstack(parts)) if not isinstance(parts, (list, tuple)) else tuple(parts)
