"""Scaling of raw images to what each decoder likelihood models.

Raw images are uint8 grey levels k in 0..255 or float32 values in [0, 1]. Three scalings,
named here by the likelihood that declares each (its `data_scaling`):
- `BINARIZED` (`bernoulli`): k/255 in [0, 1], then a binarization:
  `static` (1 where the value > 0.5, else 0; fixed once, as in the paper's code),
  `dynamic` (a fresh Bernoulli(value) draw on every pass over the data; seeded),
  `none` (grey levels used as probabilities);
- `BIN_CENTRES` (`discretized_logistic`): exactly k/255, the centres of 256 bins on [0, 1]
  (float data is snapped to the nearest k/255, after `load` checked it lies on that grid);
- `UNIT_INTERVAL` (`gaussian`): k/255 (float data as is), in [0, 1].

Every scale function has the signature `(images, seed, binarize) -> float32 images` and runs
on whole batches inside `tf.data`; `seed` is an int64[2] stateless seed per batch.
"""

import collections

import tensorflow as tf

from tf_smvae.util.registry import Registry

__all__ = [
    "BINARIZATIONS",
    "BINARIZED",
    "BIN_CENTRES",
    "LIKELIHOODS",
    "UNIT_INTERVAL",
    "Scaling",
    "to_unit_interval",
]

_LEVELS = 255.0
_THRESHOLD = 0.5

# Likelihood name -> `Scaling`; filled by the likelihoods' one registration
# (`tf_smvae.model.likelihoods.register`), which `import tf_smvae` runs.
LIKELIHOODS = Registry("likelihood")
BINARIZATIONS = Registry("binarization")

Scaling = collections.namedtuple("Scaling", ["scale", "integer_levels", "unit_interval"])
Scaling.__doc__ = """How a likelihood wants its data.

Fields:
  scale: function (images, seed, binarize) -> float32 images, applied per batch.
  integer_levels: whether the data must be grey levels k/255 (checked at load time).
  unit_interval: whether float data must lie in [0, 1] (False for a likelihood on the
    real line: Gaussian data such as the simulated `linear_gaussian` source).
"""


def to_unit_interval(images):
    """Returns uint8 images as k/255 and float images as float32, both in [0, 1]."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / _LEVELS
    return tf.cast(images, tf.float32)


@BINARIZATIONS.register("static")
def _static(probs, seed):
    """1 where probs > 0.5, else 0."""
    del seed
    return tf.cast(probs > _THRESHOLD, tf.float32)


@BINARIZATIONS.register("dynamic")
def _dynamic(probs, seed):
    """A Bernoulli(probs) draw from a stateless seed."""
    noise = tf.random.stateless_uniform(tf.shape(probs), seed=seed, dtype=tf.float32)
    return tf.cast(noise < probs, tf.float32)


@BINARIZATIONS.register("none")
def _no_binarization(probs, seed):
    """Grey levels as probabilities."""
    del seed
    return probs


def _bernoulli(images, seed, binarize):
    return binarize(to_unit_interval(images), seed)


def _bin_centres(images, seed, binarize):
    del seed, binarize
    if images.dtype == tf.uint8:
        return to_unit_interval(images)
    levels = tf.clip_by_value(tf.round(tf.cast(images, tf.float32) * _LEVELS), 0.0, _LEVELS)
    return levels / _LEVELS


def _unit_interval(images, seed, binarize):
    # uint8 images to k/255; float data (images in [0, 1] or real values) unchanged.
    del seed, binarize
    return to_unit_interval(images)


# The three ways of scaling data. Which likelihood wants which is said once, by the
# likelihood itself (`tf_smvae.model.likelihoods`: its class attribute `data_scaling`); its
# registration there also enters the name here, in `LIKELIHOODS`, where `load` looks it up.
BINARIZED = Scaling(_bernoulli, integer_levels=False, unit_interval=True)
BIN_CENTRES = Scaling(_bin_centres, integer_levels=True, unit_interval=True)
UNIT_INTERVAL = Scaling(_unit_interval, integer_levels=False, unit_interval=False)
