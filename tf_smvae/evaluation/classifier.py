"""A small conv classifier whose penultimate layer serves as a KID feature extractor.

InceptionV3's ImageNet weights cannot be downloaded offline, so KID (DESIGN section 6) may use
the features of a classifier trained on the dataset itself instead. `build_classifier` makes a
functional Keras model with a named feature layer (`FEATURE_LAYER`), `train_classifier` fits it
with early stopping on a validation split (taken from the training data, never the test set),
`evaluate_accuracy` measures it, and `train_feature_extractor` does all of it from a config
(`configs/feature_extractor.py`) for `bin/train_feature_extractor.py`.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from tf_smvae import data
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

__all__ = [
    "FEATURE_LAYER",
    "build_classifier",
    "classification_dataset",
    "evaluate_accuracy",
    "split_validation",
    "train_classifier",
    "train_feature_extractor",
]

FEATURE_LAYER = "features"
_LEVELS = 255.0


def _conv_block(x, filters, seed, index, num_convs):
    """`num_convs` 3x3 ReLU convolutions and a 2x2 max-pool, with seeded initialisers."""
    for position in range(num_convs):
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_initializer=keras.initializers.HeUniform(seed=seed + 10 * index + position),
            name=f"conv{index}_{position}",
        )(x)
    return keras.layers.MaxPooling2D(2, padding="same", name=f"pool{index}")(x)


def build_classifier(
    image_shape,
    num_classes,
    *,
    feature_dim=128,
    filters=(32, 64),
    convs_per_block=2,
    dropout_rate=0.3,
    seed=0,
):
    """A conv classifier for grey or RGB images in [0, 1] with a named feature layer.

    Architecture: per entry of `filters` `convs_per_block` 3x3 ReLU convolutions and a 2x2
    max-pool, then flatten, a `feature_dim` ReLU dense layer named `FEATURE_LAYER` (the KID
    features), dropout, and a dense layer of `num_classes` logits. The KID extractor uses the
    defaults; the augmentation study's classifier (`experiments.augmentation.classifier`) one conv
    per block, a narrow feature layer and no dropout.

    Args:
      image_shape: (H, W, C) with C in {1, 3}.
      num_classes: int >= 2, number of logits.
      feature_dim: width of the feature layer.
      filters: conv widths, one block each.
      convs_per_block: int >= 1, convolutions before each pool.
      dropout_rate: dropout between the feature layer and the logits, in [0, 1).
      seed: int seeding every initialiser and the dropout.

    Returns:
      A functional `keras.Model` images [B, H, W, C] -> logits [B, num_classes].

    Raises:
      ValueError: for a bad image shape, class count, width or dropout rate.
    """
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3 or image_shape[-1] not in (1, 3):
        raise ValueError(f"`image_shape` must be (H, W, C) with C in (1, 3); got {image_shape}.")
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be at least 2; got {num_classes}.")
    if feature_dim < 1 or not filters:
        raise ValueError(
            f"need `feature_dim` >= 1 and some `filters`; got {feature_dim}, {filters}."
        )
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"`dropout_rate` must lie in [0, 1); got {dropout_rate}.")
    if int(convs_per_block) < 1:
        raise ValueError(f"`convs_per_block` must be at least 1; got {convs_per_block}.")
    inputs = keras.Input(image_shape, name="images")
    x = inputs
    for index, width in enumerate(filters):
        x = _conv_block(x, int(width), seed, index, int(convs_per_block))
    x = keras.layers.Flatten(name="flatten")(x)
    features = keras.layers.Dense(
        int(feature_dim),
        activation="relu",
        kernel_initializer=keras.initializers.HeUniform(seed=seed + 1000),
        name=FEATURE_LAYER,
    )(x)
    x = keras.layers.Dropout(dropout_rate, seed=seed + 1001, name="dropout")(features)
    logits = keras.layers.Dense(
        int(num_classes),
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1002),
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name="feature_classifier")


def _as_unit_interval(images):
    """uint8 grey levels -> float32 / 255; float images (already in [0, 1]) -> float32."""
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.float32) / _LEVELS
    return images.astype(np.float32)


def classification_dataset(images, labels, *, batch_size, shuffle=False, seed=0):
    """Batches (images in [0, 1], int32 labels) as a `tf.data.Dataset`.

    Args:
      images: [N, H, W, C] uint8 grey levels or floats in [0, 1].
      labels: int [N].
      batch_size: examples per batch.
      shuffle: reshuffle every pass, seeded by `seed`.
      seed: int.

    Returns:
      A dataset of (float32 [B, H, W, C], int32 [B]).
    """
    dataset = tf.data.Dataset.from_tensor_slices(
        (_as_unit_interval(images), np.asarray(labels, np.int32))
    )
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def split_validation(images, labels, validation_fraction, seed):
    """Splits training arrays into (train, validation) parts by a seeded permutation.

    Args:
      images: [N, ...] array.
      labels: [N] array.
      validation_fraction: share of the examples held out, in (0, 1).
      seed: int seed of the permutation.

    Returns:
      ((train_images, train_labels), (val_images, val_labels)).

    Raises:
      ConfigError: naming `train.validation_fraction` if either part would be empty.
    """
    num = labels.shape[0]
    num_val = int(round(validation_fraction * num))
    if not 0.0 < validation_fraction < 1.0 or num_val < 1 or num_val >= num:
        raise ConfigError(
            f"train.validation_fraction={validation_fraction!r} must lie in (0, 1) and leave "
            f"at least one of the {num} training examples on each side."
        )
    order = np.random.default_rng(seed).permutation(num)
    val, train = order[:num_val], order[num_val:]
    return (images[train], labels[train]), (images[val], labels[val])


def train_classifier(
    train_ds,
    val_ds,
    *,
    num_classes,
    feature_dim=128,
    filters=(32, 64),
    convs_per_block=2,
    dropout_rate=0.3,
    epochs=10,
    learning_rate=1e-3,
    patience=3,
    seed=0,
    jit_compile=True,
    verbose=0,
):
    """Builds and trains a `build_classifier` model with Adam and cross-entropy.

    With `val_ds`, training stops early once the validation loss has not improved for
    `patience` epochs, and the weights of the best epoch are kept.

    Args:
      train_ds: dataset of (images [B, H, W, C] in [0, 1], int labels [B]).
      val_ds: the same for validation (split from the training data), or None.
      num_classes: int >= 2.
      feature_dim, filters, convs_per_block, dropout_rate, seed: as in `build_classifier`.
      epochs: maximum number of passes over `train_ds`.
      learning_rate: Adam learning rate.
      patience: early-stopping patience in epochs.
      jit_compile: XLA-compile the train step.
      verbose: Keras progress output (0 silent, 1 bar, 2 a line per epoch).

    Returns:
      (model, history): the trained `keras.Model` and the `History.history` dict.
    """
    image_shape = tuple(int(s) for s in train_ds.element_spec[0].shape[1:])
    model = build_classifier(
        image_shape,
        num_classes,
        feature_dim=feature_dim,
        filters=filters,
        convs_per_block=convs_per_block,
        dropout_rate=dropout_rate,
        seed=seed,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=bool(jit_compile),
    )
    callbacks = []
    if val_ds is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs,
        callbacks=callbacks,
        shuffle=False,  # train_ds shuffles itself, seeded
        verbose=verbose,
    )
    return model, history.history


def evaluate_accuracy(model, dataset):
    """Share of correctly classified examples (argmax of the logits).

    Args:
      model: a classifier images -> logits.
      dataset: dataset of (images, labels) batches.

    Returns:
      Python float in [0, 1].

    Raises:
      ValueError: if `dataset` is empty.
    """
    correct, total = 0, 0
    for images, labels in dataset:
        logits = keras.ops.convert_to_numpy(model(images, training=False))
        correct += int(np.sum(np.argmax(logits, axis=-1) == labels.numpy()))
        total += int(labels.shape[0])
    if total == 0:
        raise ValueError("`dataset` holds no examples to evaluate.")
    return correct / total


# config field -> (check, what it must be).
_CONFIG_CHECKS = {
    "train.epochs": (lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
    "train.batch_size": (lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
    "train.learning_rate": (lambda v: isinstance(v, (int, float)) and v > 0, "a number > 0"),
    "train.patience": (lambda v: isinstance(v, int) and v >= 0, "an int >= 0"),
    "model.feature_dim": (lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
    "model.dropout_rate": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "in [0, 1)"),
    "model.filters": (lambda v: len(v) >= 1 and all(int(f) >= 1 for f in v), "positive ints"),
}


def _check_config(config):
    """Raises ConfigError naming the first field of `config` out of range."""
    for field, (check, expected) in _CONFIG_CHECKS.items():
        group, name = field.split(".")
        value = config[group][name]
        if isinstance(value, bool) or not check(value):
            raise ConfigError(f"{field} must be {expected}; got {value!r}.")


def _labelled_split(config, split, num_examples):
    """Reads one split as (images, labels); refuses unlabelled datasets."""
    dataset = config.dataset
    images, labels = data.load_arrays(
        dataset.name, split, data_dir=dataset.data_dir, image_size=dataset.image_size
    )
    if labels is None:
        raise DataError(
            f"Dataset {dataset.name!r} (split {split!r}) has no labels; the feature-extractor "
            "classifier needs a labelled dataset (dataset.name)."
        )
    if num_examples is not None:
        images, labels = images[:num_examples], labels[:num_examples]
    return images, labels


def _write_atomically(model, summary, out_dir):
    """Writes out_dir/extractor.keras and out_dir/extractor.json via temporary files."""
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "extractor.keras")
    json_path = os.path.join(out_dir, "extractor.json")
    tmp_model = os.path.join(out_dir, f"extractor.tmp-{os.getpid()}.keras")
    model.save(tmp_model)
    os.replace(tmp_model, model_path)
    tmp_json = f"{json_path}.tmp-{os.getpid()}"
    with open(tmp_json, "w", encoding="utf-8") as stream:
        json.dump(summary, stream, indent=2)
    os.replace(tmp_json, json_path)
    return model_path, json_path


def train_feature_extractor(config, out_dir, command=None):
    """Trains the classifier of `config` and writes out_dir/extractor.{keras,json}.

    The validation split comes from the training split (`train.validation_fraction`); the
    test split is used once, for the recorded test accuracy.

    Args:
      config: a `configs/feature_extractor.py` ConfigDict.
      out_dir: output directory (created).
      command: the command line, recorded in extractor.json.

    Returns:
      The dict written to extractor.json (with `model_path` added).

    Raises:
      ConfigError: naming the field, for an out-of-range setting or an unknown dataset.
      DataError: for missing or unlabelled data.
    """
    _check_config(config)
    images, labels = _labelled_split(config, "train", config.dataset.num_train_examples)
    test_images, test_labels = _labelled_split(config, "test", config.dataset.num_test_examples)
    (train_x, train_y), (val_x, val_y) = split_validation(
        images, labels, config.train.validation_fraction, config.seed
    )
    num_classes = int(max(labels.max(), test_labels.max())) + 1
    batch_size = config.train.batch_size
    model, history = train_classifier(
        classification_dataset(
            train_x, train_y, batch_size=batch_size, shuffle=True, seed=config.seed
        ),
        classification_dataset(val_x, val_y, batch_size=batch_size),
        num_classes=num_classes,
        feature_dim=config.model.feature_dim,
        filters=tuple(config.model.filters),
        dropout_rate=config.model.dropout_rate,
        epochs=config.train.epochs,
        learning_rate=config.train.learning_rate,
        patience=config.train.patience,
        seed=config.seed,
        jit_compile=config.train.jit_compile,
        verbose=config.train.verbose,
    )
    test_ds = classification_dataset(test_images, test_labels, batch_size=batch_size)
    summary = {
        "dataset": config.dataset.name,
        "data_dir": config.dataset.data_dir,
        "image_shape": [int(s) for s in images.shape[1:]],
        "num_classes": num_classes,
        "feature_layer": FEATURE_LAYER,
        "feature_dim": int(config.model.feature_dim),
        "test_accuracy": evaluate_accuracy(model, test_ds),
        "validation_accuracy": evaluate_accuracy(
            model, classification_dataset(val_x, val_y, batch_size=batch_size)
        ),
        "epochs_run": len(history["loss"]),
        "num_train_examples": int(train_y.shape[0]),
        "num_validation_examples": int(val_y.shape[0]),
        "num_test_examples": int(test_labels.shape[0]),
        "command": command,
        "config": json.loads(config.to_json_best_effort()),
    }
    model_path, _ = _write_atomically(model, summary, out_dir)
    return {**summary, "model_path": model_path}
