"""The augmentation study's classifier: a stratified validation split, a small conv net
trained with early stopping, and its scores with the minority class as the positive class.

The network and its training loop are `evaluation.classifier`'s (the KID extractor's),
with the study's narrower architecture.
"""

import keras
import ml_collections
import numpy as np

from tf_smvae.evaluation import augmentation
from tf_smvae.evaluation import classifier
from tf_smvae.experiments import common
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

__all__ = [
    "CLASSIFIER_DEFAULTS",
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


CLASSIFIER_DEFAULTS = ml_collections.ConfigDict(
    dict(
        max_epochs=100,
        patience=10,
        batch_size=32,
        learning_rate=1e-3,
        filters=(16, 32),
        hidden_units=32,
        jit_compile=True,
    )
)
"""The defaults of `ClassifierSettings`, the one place they are written."""


def ClassifierSettings(**overrides):  # noqa: N802  (called as the frozen dataclass it was)
    """The small conv classifier and its training. Every field is an override of its
    default in `CLASSIFIER_DEFAULTS`.

    Args:
      max_epochs: upper bound of training epochs.
      patience: epochs without a better validation loss before stopping (the best
        epoch's weights are restored).
      batch_size: training batch size.
      learning_rate: Adam learning rate.
      filters: channels of the 3x3 conv layers, each followed by 2x2 max pooling.
      hidden_units: width of the dense (feature) layer before the logits.
      jit_compile: XLA-compile the training step.

    Returns:
      An `ml_collections.FrozenConfigDict`.

    Raises:
      ConfigError: for a field that does not exist.
    """
    return common.make_settings(CLASSIFIER_DEFAULTS, overrides, "classifier settings")


def build_classifier(image_shape, settings, seed):
    """The study's two-logit `evaluation.classifier.build_classifier` network.

    One 3x3 ReLU conv and a 2x2 max-pool per entry of `settings.filters`, a
    `settings.hidden_units` ReLU layer, no dropout, two logits.

    Args:
      image_shape: (H, W, C).
      settings: `ClassifierSettings`.
      seed: int seeding every initialiser.

    Returns:
      An uncompiled `keras.Model` mapping [B, H, W, C] in [0, 1] to logits [B, 2].
    """
    return classifier.build_classifier(image_shape, 2, seed=seed, **_architecture(settings))


def _architecture(settings):
    return dict(
        feature_dim=settings.hidden_units,
        filters=tuple(settings.filters),
        convs_per_block=1,
        dropout_rate=0.0,
    )


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
    batch_size = settings.batch_size
    model, history = classifier.train_classifier(
        classifier.classification_dataset(
            x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed
        ),
        classifier.classification_dataset(x_val, y_val, batch_size=batch_size),
        num_classes=2,
        epochs=settings.max_epochs,
        learning_rate=settings.learning_rate,
        patience=settings.patience,
        seed=seed,
        jit_compile=settings.jit_compile,
        **_architecture(settings),
    )
    # EarlyStopping keeps the first epoch with the lowest validation loss.
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    return model, dict(epochs_trained=len(history["loss"]), best_epoch=best_epoch)


def scores(model, x_test, y_test):
    """Balanced accuracy, TPR and TNR of the classifier on uint8 test images (positive: 1)."""
    logits = model.predict(np.asarray(x_test, np.float32) / 255.0, batch_size=256, verbose=0)
    predictions = np.argmax(logits, axis=-1).astype(np.int64)
    return {
        "balanced_accuracy": augmentation.balanced_accuracy(y_test, predictions, 1),
        "tpr": augmentation.true_positive_rate(y_test, predictions, 1),
        "tnr": augmentation.true_negative_rate(y_test, predictions, 1),
    }
