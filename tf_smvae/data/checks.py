"""Checks of the data a user hands to a model directly (`fit`, `evaluate`, log-likelihood).

`tf_smvae.data.load` validates its data when it reads it; arrays and datasets built by the
user reach the model unchecked, where a NaN, a wrong shape or a value the likelihood cannot
take would surface as a NaN loss or a deep TensorFlow error. `check_model_input` checks them
once, eagerly, naming the argument they came from.
"""

import numpy as np
import tensorflow as tf

from tf_smvae.util.errors import DataError

__all__ = ["check_dataset_spec", "check_model_input"]


def _first_component(spec):
    """The images' spec of a dataset of images, (images, labels[, weights]) or {"x": ...}."""
    if isinstance(spec, (tuple, list)):
        return _first_component(spec[0]) if spec else None
    if isinstance(spec, dict):
        return spec.get("x", next(iter(spec.values()), None))
    return spec


def check_dataset_spec(dataset, image_shape, origin):
    """Checks that a dataset yields float batches [B, *image_shape].

    Only the static `element_spec` is looked at (the data is not read).

    Args:
      dataset: a `tf.data.Dataset` of images or of tuples whose first entry is images.
      image_shape: the model's (H, W, C).
      origin: the argument the dataset came from, for the message.

    Raises:
      DataError: naming `origin`, for a non-float dtype or an incompatible shape, or a
        dataset known to be empty.
    """
    spec = _first_component(dataset.element_spec)
    if not isinstance(spec, tf.TensorSpec):
        raise DataError(f"{origin}: expected a dataset of image tensors, got {spec!r}.")
    expected = tf.TensorShape([None, *image_shape])
    if not spec.shape.is_compatible_with(expected):
        raise DataError(
            f"{origin}: expected batches of shape [B, {', '.join(map(str, image_shape))}] "
            f"(the model's image shape), got batches of shape {spec.shape}."
        )
    if not (spec.dtype.is_floating or spec.dtype.is_integer or spec.dtype == tf.bool):
        raise DataError(f"{origin}: data of dtype {spec.dtype.name} is not numeric.")
    if int(dataset.cardinality()) == 0:
        raise DataError(f"{origin}: the dataset is empty.")


def check_model_input(model, x, origin="x"):
    """Checks user data for `model` before it is trained on or evaluated.

    Arrays and eager tensors are checked in full by the likelihood (`check_data`: shape,
    dtype, NaN/inf, value range, grid); a `tf.data.Dataset` only by its static spec; None
    (e.g. a Keras generator path) is left alone.

    Args:
      model: a `tf_smvae.VAE` (or anything with `image_shape` and `likelihood`).
      x: the data: numpy array, tensor, nested list, `tf.data.Dataset`, or a tuple whose
        first entry is the images.
      origin: the argument `x` came from, named in error messages.

    Raises:
      DataError: naming `origin`, for data the model cannot score.
    """
    if x is None:
        return
    if isinstance(x, tf.data.Dataset):
        check_dataset_spec(x, model.image_shape, origin)
        return
    if isinstance(x, tuple) and x:  # (images, labels[, weights])
        x = x[0]
    if isinstance(x, (np.ndarray, tf.Tensor, list)):
        model.likelihood.check_data(x, origin)
