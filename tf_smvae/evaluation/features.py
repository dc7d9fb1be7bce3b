"""Feature extractors for KID (DESIGN section 6): InceptionV3 pool3, or any Keras model.

The paper's KID uses InceptionV3's 2048-d pool3 features (input 299, or 150 in the
paper-compatible mode). ImageNet weights come from a local file only: nothing is downloaded.
When no such file is at hand, `keras_model_extractor` turns any Keras model (e.g. a classifier
trained on the dataset) into a feature extractor instead. `load_extractor` picks one from a
command-line spec: "inception" or the path of a classifier saved by
`bin/train_feature_extractor.py`.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry

__all__ = [
    "NAMED_EXTRACTORS",
    "check_extractor_spec",
    "inception_extractor",
    "keras_model_extractor",
    "load_extractor",
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


# Extractors selected by name in `load_extractor`; any other spec is a `.keras` file.
NAMED_EXTRACTORS = Registry("feature extractor")
_DEFAULT_FEATURE_LAYER = "features"


@NAMED_EXTRACTORS.register("inception")
def _named_inception(*, inception_weights, batch_size, inception_input_size):
    if inception_weights is None:
        raise ValueError(
            "The 'inception' feature extractor needs ImageNet weights from a local file: they "
            "cannot be downloaded offline. Pass --inception_weights=FILE (the notop InceptionV3 "
            ".h5), or train a dataset classifier with bin/train_feature_extractor.py and pass "
            "its extractor.keras."
        )
    return inception_extractor(inception_weights, inception_input_size, batch_size=batch_size)


def _sidecar(path):
    """The extractor.json written next to a `.keras` file, or {} if there is none."""
    sidecar = f"{os.path.splitext(path)[0]}.json"
    if not os.path.isfile(sidecar):
        return {}
    try:
        with open(sidecar, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Cannot read the feature extractor's sidecar {sidecar!r}: {error}"
        ) from error


def _checked_shape(extract, expected_shape, origin):
    """Wraps `extract` so that images of the wrong shape raise a clear ValueError."""

    def checked(images):
        shape = tuple(int(s) for s in np.shape(images)[1:])
        if shape != expected_shape:
            raise ValueError(
                f"The feature extractor {origin!r} takes images of shape {expected_shape}; got "
                f"{shape}. Train it on the same dataset and image size as the model."
            )
        return extract(images)

    return checked


def _keras_file_extractor(path, batch_size):
    """Loads a classifier `.keras` file and extracts its feature layer's output."""
    if not path.endswith(".keras") or not os.path.isfile(path):
        raise FileNotFoundError(
            f"Feature extractor {path!r} is not an existing .keras file (nor one of: "
            f"{', '.join(NAMED_EXTRACTORS.names())}). Train one with "
            "bin/train_feature_extractor.py --out=DIR and pass DIR/extractor.keras."
        )
    try:
        model = keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(f"Cannot load the feature extractor {path!r}: {error}") from error
    layer_name = _sidecar(path).get("feature_layer")
    if layer_name is None and any(layer.name == _DEFAULT_FEATURE_LAYER for layer in model.layers):
        layer_name = _DEFAULT_FEATURE_LAYER
    extract = keras_model_extractor(model, layer_name, batch_size=batch_size)
    return _checked_shape(extract, tuple(int(s) for s in model.input_shape[1:]), path)


def check_extractor_spec(spec, inception_weights=None, flag="--feature_extractor"):
    """Checks, before any work, that `load_extractor(spec, ...)` has its files.

    Args:
      spec: "inception" or the path of a `.keras` extractor.
      inception_weights: the weights file "inception" needs.
      flag: the flag or field named in the message.

    Raises:
      ConfigError: naming `flag` for a missing spec, a missing file, or "inception"
        without an existing weights file.
    """
    if not spec:
        raise ConfigError(
            f"KID needs {flag} (a .keras model file, e.g. from bin/train_feature_extractor.py, "
            "or 'inception' with --inception_weights=FILE)."
        )
    if spec == "inception":
        if not (inception_weights and os.path.isfile(inception_weights)):
            raise ConfigError(
                f"{flag}=inception needs --inception_weights=FILE, got {inception_weights!r}."
            )
    elif not os.path.isfile(spec):
        raise ConfigError(f"{flag} {spec!r} is neither 'inception' nor a file.")


def load_extractor(spec, *, inception_weights=None, batch_size=256, inception_input_size=299):
    """A KID feature extractor from a command-line spec.

    Args:
      spec: "inception" (InceptionV3 pool3, needs `inception_weights`) or the path of a
        `.keras` model, e.g. the extractor.keras of `bin/train_feature_extractor.py`. Its
        features are the output of the layer named by the `feature_layer` of the .json
        sidecar next to it (extractor.json), else of a layer named "features", else of the
        model itself.
      inception_weights: path of the notop InceptionV3 ImageNet weights (.h5), for
        "inception" only.
      batch_size: positive int, images per forward pass.
      inception_input_size: 299, or 150 (the paper-compatible mode); "inception" only.

    Returns:
      A callable `images [N, H, W, C] in [0, 1] -> np.ndarray [N, num_features]` (float). The
      `.keras` extractor refuses images of another shape than it was trained on.

    Raises:
      FileNotFoundError: if `spec` is no registered name and no existing `.keras` file, or
        the inception weights file does not exist.
      ValueError: for "inception" without `inception_weights` (they cannot be downloaded
        offline), or a `.keras` file or sidecar that cannot be read.

    #### Examples

    ```python
    extract = load_extractor("runs/extractor/extractor.keras")
    features = extract(test_images)  # [N, 128]
    ```
    """
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec:
        raise ValueError(
            f"Feature extractor spec must be a .keras path or one of "
            f"{', '.join(NAMED_EXTRACTORS.names())}; got {spec!r}."
        )
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive; got {batch_size}.")
    if spec in NAMED_EXTRACTORS:
        return NAMED_EXTRACTORS.get(spec)(
            inception_weights=inception_weights,
            batch_size=batch_size,
            inception_input_size=inception_input_size,
        )
    return _keras_file_extractor(spec, batch_size)
