"""Feature extractors for KID (DESIGN section 6): InceptionV3 pool3, or any Keras model.

The paper's KID uses InceptionV3's 2048-d pool3 features (input 299, or 150 in the
paper-compatible mode). ImageNet weights come from a local file only: nothing is downloaded.
When no such file is at hand, `keras_model_extractor` turns any Keras model (e.g. a classifier
trained on the dataset) into a feature extractor instead.
"""

import os

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "inception_extractor",
    "keras_model_extractor",
    "preprocess_for_inception",
]

_INCEPTION_INPUT_SIZES = (150, 299)


def _batched_features(network, images, batch_size, preprocess=None):
    """Runs `network` over `images` in batches of `batch_size`; returns float numpy features."""
    images = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    outputs = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size]
        if preprocess is not None:
            batch = preprocess(batch)
        outputs.append(keras.ops.convert_to_numpy(network(batch, training=False)))
    if not outputs:
        raise ValueError("`images` must hold at least one image; got an empty batch.")
    features = np.concatenate(outputs, axis=0)
    return features.reshape(features.shape[0], -1)


def keras_model_extractor(model, layer_name=None, *, batch_size=256):
    """Turns a Keras model (or one of its layers' outputs) into a feature extractor for KID.

    Args:
      model: a built `keras.Model` (functional, or Sequential with a known input shape).
      layer_name: optional name of an intermediate layer whose output are the features; None
        uses the model's own output.
      batch_size: positive int, images per forward pass.

    Returns:
      A callable `images -> np.ndarray [num_images, num_features]` (outputs with several
      trailing axes are flattened), computed in batches with `training=False`.

    Raises:
      ValueError: if `layer_name` names no layer of `model`, the model has no defined inputs,
        or `batch_size` is not positive.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive; got {batch_size}.")
    network = model
    if layer_name is not None:
        try:
            layer = model.get_layer(layer_name)
        except ValueError as error:
            raise ValueError(f"`layer_name` {layer_name!r} is not a layer of the model.") from error
        try:
            inputs = model.inputs
        except (AttributeError, ValueError) as error:
            raise ValueError(
                "`model` has no defined inputs; build it (e.g. with keras.Input) before "
                "taking an intermediate layer's output."
            ) from error
        network = keras.Model(inputs[0] if len(inputs) == 1 else inputs, layer.output)

    def extract(images):
        return _batched_features(network, images, batch_size)

    return extract


def preprocess_for_inception(images, input_size=299):
    """Prepares images in [0, 1] for InceptionV3: grey -> RGB, resize, scale to [-1, 1].

    Args:
      images: [N, H, W] or [N, H, W, 1] (grey) or [N, H, W, 3] (RGB) array or tensor with
        values in [0, 1].
      input_size: side length the images are resized to (bilinear).

    Returns:
      float32 tensor [N, input_size, input_size, 3] with values in [-1, 1] (2 x - 1, as
      `keras.applications.inception_v3.preprocess_input` does for [0, 255] inputs).

    Raises:
      ValueError: if `images` does not have 1 or 3 channels.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank == 3:
        images = images[..., tf.newaxis]
    if images.shape.rank != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"`images` must be [N, H, W], [N, H, W, 1] or [N, H, W, 3]; got {images.shape}."
        )
    if images.shape[-1] == 1:
        images = tf.tile(images, [1, 1, 1, 3])
    if images.shape[1] != input_size or images.shape[2] != input_size:
        images = tf.image.resize(images, (input_size, input_size), method="bilinear")
    return 2.0 * images - 1.0


def inception_extractor(weights_path, input_size=299, *, batch_size=64):
    """InceptionV3 pool3 (2048-d) feature extractor for KID, with weights from a local file.

    Args:
      weights_path: path to the notop ImageNet weights
        (`inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`); None builds a randomly
        initialised network (for tests only: its features are meaningless for KID).
      input_size: 299 (standard) or 150 (the paper-compatible mode).
      batch_size: positive int, images per forward pass.

    Returns:
      A callable `images -> np.ndarray [num_images, 2048]` taking images in [0, 1] as accepted
      by `preprocess_for_inception`.

    Raises:
      FileNotFoundError: if `weights_path` does not exist (ImageNet weights cannot be
        downloaded offline).
      ValueError: if `input_size` is not 150 or 299.

    #### References

    [1]: Christian Szegedy, Vincent Vanhoucke, Sergey Ioffe, Jonathon Shlens and Zbigniew
         Wojna. Rethinking the Inception Architecture for Computer Vision. In _Conference on
         Computer Vision and Pattern Recognition_, 2016. https://arxiv.org/abs/1512.00567
    [2]: Mikolaj Binkowski, Danica J. Sutherland, Michael Arbel and Arthur Gretton.
         Demystifying MMD GANs. In _International Conference on Learning Representations_,
         2018. https://arxiv.org/abs/1801.01401
    """
    if input_size not in _INCEPTION_INPUT_SIZES:
        raise ValueError(f"`input_size` must be one of {_INCEPTION_INPUT_SIZES}; got {input_size}.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive; got {batch_size}.")
    if weights_path is not None:
        weights_path = os.fspath(weights_path)
        if not os.path.isfile(weights_path):
            raise FileNotFoundError(
                f"InceptionV3 weights file not found: {weights_path!r}. ImageNet weights cannot "
                "be downloaded offline; pass a local notop .h5 file (--inception_weights) or use "
                "keras_model_extractor with a model trained on the dataset."
            )
    network = keras.applications.InceptionV3(
        include_top=False,
        pooling="avg",
        weights=weights_path,
        input_shape=(input_size, input_size, 3),
    )

    def extract(images):
        return _batched_features(
            network, images, batch_size, lambda batch: preprocess_for_inception(batch, input_size)
        )

    return extract
