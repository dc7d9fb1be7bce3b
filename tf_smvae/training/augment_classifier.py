"""The augmentation study's classifier: a stratified validation split, a small conv net
trained with early stopping, and its scores with the minority class as the positive class.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tf_smvae.evaluation import augmentation
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

__all__ = [
    "ClassifierSettings",
    "build_classifier",
    "scores",
    "split_train_validation",
    "train_classifier",
]


def split_train_validation(labels, fraction, seed=0):
    """Splits training indices into (train, validation), stratified by class.

    Each class gives round(fraction * n) of its n images (at least 1, at most n - 1) to the
    validation split, chosen by a seeded permutation.

    Args:
      labels: int labels [N] of the training split.
      fraction: validation share, in (0, 1).
      seed: int seed of the permutation.

    Returns:
      (train_indices, validation_indices), sorted int arrays that partition range(N).

    Raises:
      ConfigError: for a fraction outside (0, 1).
      DataError: for a class with fewer than two training images.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation_fraction must be in (0, 1), got {fraction}.")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    validation = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if members.size < 2:
            raise DataError(
                f"Class {label} has {members.size} training image(s); the validation split "
                "needs at least 2 per class."
            )
        count = min(max(int(round(fraction * members.size)), 1), members.size - 1)
        validation.extend(members[:count].tolist())
    validation = np.sort(np.asarray(validation, np.int64))
    return np.setdiff1d(np.arange(labels.size), validation), validation


@dataclasses.dataclass(frozen=True)
class ClassifierSettings:
    """The small conv classifier and its training.

    Attributes:
      max_epochs: upper bound of training epochs.
      patience: epochs without a better validation loss before stopping (the best
        epoch's weights are restored).
      batch_size: training batch size.
      learning_rate: Adam learning rate.
      filters: channels of the 3x3 conv layers, each followed by 2x2 max pooling.
      hidden_units: width of the dense layer before the logit.
      jit_compile: XLA-compile the training step.
    """

    max_epochs: int = 100
    patience: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    filters: tuple = (16, 32)
    hidden_units: int = 32
    jit_compile: bool = True


def build_classifier(image_shape, settings, seed):
    """Conv(3x3, relu) + max-pool per filter -> flatten -> dense -> one logit.

    Args:
      image_shape: (H, W, C).
      settings: `ClassifierSettings`.
      seed: int seeding every initialiser.

    Returns:
      An uncompiled `keras.Model` mapping [B, H, W, C] in [0, 1] to logits [B, 1].
    """
    inputs = keras.Input(tuple(image_shape))
    hidden = inputs
    for index, filters in enumerate(settings.filters):
        hidden = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 97 + index),
        )(hidden)
        hidden = keras.layers.MaxPooling2D(2, padding="same")(hidden)
    hidden = keras.layers.Flatten()(hidden)
    count = len(settings.filters)
    hidden = keras.layers.Dense(
        settings.hidden_units,
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 97 + count),
    )(hidden)
    logits = keras.layers.Dense(
        1, kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 97 + count + 1)
    )(hidden)
    return keras.Model(inputs, logits, name="augmentation_classifier")


def _as_float(images):
    return np.asarray(images, np.float32) / 255.0


def train_classifier(train, validation, settings, seed):
    """Trains the classifier with early stopping on the validation loss.

    Args:
      train: (uint8 images [N, H, W, C], binary labels [N]) to train on.
      validation: (images, labels) for early stopping only.
      settings: `ClassifierSettings`.
      seed: int seed of the initialisation and the data order.

    Returns:
      (model with the best epoch's weights, dict(epochs_trained, best_epoch)).
    """
    (x_train, y_train), (x_val, y_val) = train, validation
    keras.utils.set_random_seed(seed)
    model = build_classifier(x_train.shape[1:], settings, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        jit_compile=settings.jit_compile,
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((_as_float(x_train), np.float32(y_train)[:, None]))
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(settings.batch_size)
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=settings.patience, restore_best_weights=True
    )
    history = model.fit(
        dataset,
        validation_data=(_as_float(x_val), np.float32(y_val)[:, None]),
        epochs=settings.max_epochs,
        callbacks=[stop],
        shuffle=False,  # the dataset shuffles, seeded
        verbose=0,
    )
    return model, dict(epochs_trained=len(history.history["loss"]), best_epoch=stop.best_epoch + 1)


def scores(model, x_test, y_test):
    """Balanced accuracy, TPR and TNR of the classifier on uint8 test images (positive: 1)."""
    logits = model.predict(_as_float(x_test), batch_size=256, verbose=0)
    predictions = (logits[:, 0] > 0.0).astype(np.int64)
    return {
        "balanced_accuracy": augmentation.balanced_accuracy(y_test, predictions, 1),
        "tpr": augmentation.true_positive_rate(y_test, predictions, 1),
        "tnr": augmentation.true_negative_rate(y_test, predictions, 1),
    }
