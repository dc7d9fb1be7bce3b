"""The KID feature-extractor classifier: training, accuracy, splits, and loading it back."""

import json

import keras
import numpy as np
import pytest

from configs import feature_extractor as feature_extractor_config
from tf_smvae import evaluation
from tf_smvae.evaluation import classifier
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError


def separable_images(num, seed, num_classes=3, size=8):
    """uint8 grey images whose class k lights up the k-th horizontal band, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(num) % num_classes
    images = rng.integers(0, 60, size=(num, size, size, 1))
    band = size // num_classes
    for k in range(num_classes):
        images[labels == k, k * band : (k + 1) * band] += 180
    return images.astype(np.uint8), labels.astype(np.int32)


def _datasets(num_train=240, num_test=90):
    train = separable_images(num_train, 0)
    test = separable_images(num_test, 1)
    return (
        classifier.classification_dataset(*train, batch_size=32, shuffle=True, seed=0),
        classifier.classification_dataset(*test, batch_size=32),
    )


def test_trains_clearly_above_chance_on_separable_data():
    train_ds, test_ds = _datasets()
    model, history = evaluation.train_classifier(
        train_ds,
        None,
        num_classes=3,
        feature_dim=16,
        filters=(8,),
        epochs=6,
        learning_rate=1e-2,
        jit_compile=False,
    )
    assert len(history["loss"]) == 6 and history["loss"][-1] < history["loss"][0]
    accuracy = evaluation.evaluate_accuracy(model, test_ds)
    assert accuracy > 0.9  # chance is 1/3


def test_evaluate_accuracy_is_the_share_of_correct_argmax():
    model = classifier.build_classifier((8, 8, 1), 3, feature_dim=4, filters=(2,), seed=3)
    images, labels = separable_images(50, 2)
    logits = model(images.astype(np.float32) / 255.0, training=False).numpy()
    expected = np.mean(np.argmax(logits, -1) == labels)
    dataset = classifier.classification_dataset(images, labels, batch_size=7)
    assert evaluation.evaluate_accuracy(model, dataset) == pytest.approx(expected)


def test_feature_layer_is_named_and_sized_for_grey_and_rgb():
    for channels in (1, 3):
        model = evaluation.build_classifier((12, 10, channels), 4, feature_dim=9, filters=(4, 8))
        layer = model.get_layer(evaluation.FEATURE_LAYER)
        assert tuple(layer.output.shape) == (None, 9)
        assert tuple(model.output.shape) == (None, 4)


def test_same_seed_same_weights():
    first = classifier.build_classifier((8, 8, 1), 3, feature_dim=4, filters=(2,), seed=5)
    again = classifier.build_classifier((8, 8, 1), 3, feature_dim=4, filters=(2,), seed=5)
    other = classifier.build_classifier((8, 8, 1), 3, feature_dim=4, filters=(2,), seed=6)
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


def test_validation_split_is_a_seeded_partition_of_the_training_data():
    images, labels = np.arange(100)[:, None], np.arange(100)
    (train_x, train_y), (val_x, val_y) = classifier.split_validation(images, labels, 0.2, 4)
    assert len(val_y) == 20 and len(train_y) == 80
    assert sorted(np.concatenate([train_y, val_y]).tolist()) == list(range(100))
    np.testing.assert_array_equal(train_x[:, 0], train_y)
    (_, again), _ = classifier.split_validation(images, labels, 0.2, 4)
    np.testing.assert_array_equal(train_y, again)
    for bad in (0.0, 1.0, 0.001):
        with pytest.raises(ConfigError, match="train.validation_fraction"):
            classifier.split_validation(images, labels, bad, 0)


def _npz_config(tmp_path, labelled=True):
    for split, seed in (("train", 0), ("test", 1)):
        images, labels = separable_images(60, seed)
        arrays = {"x": images, "y": labels} if labelled else {"x": images}
        np.savez(tmp_path / f"{split}.npz", **arrays)
    config = feature_extractor_config.get_config()
    config.dataset.name = "npz"
    config.dataset.data_dir = str(tmp_path)
    return config


@pytest.mark.parametrize(
    "field, value",
    [("train.epochs", 0), ("train.learning_rate", -1.0), ("model.dropout_rate", 1.0)],
)
def test_bad_config_names_the_field(tmp_path, field, value):
    config = _npz_config(tmp_path)
    group, name = field.split(".")
    config[group][name] = value
    with pytest.raises(ConfigError, match=field):
        evaluation.train_feature_extractor(config, str(tmp_path / "out"))


def test_unlabelled_dataset_is_refused(tmp_path):
    with pytest.raises(DataError, match="no labels"):
        evaluation.train_feature_extractor(_npz_config(tmp_path, False), str(tmp_path / "out"))


def _saved_classifier(tmp_path, sidecar_layer=None):
    model = classifier.build_classifier((8, 8, 1), 3, feature_dim=5, filters=(2,), seed=1)
    path = str(tmp_path / "extractor.keras")
    model.save(path)
    if sidecar_layer is not None:
        with open(tmp_path / "extractor.json", "w") as stream:
            json.dump({"feature_layer": sidecar_layer}, stream)
    return model, path


def test_load_extractor_uses_the_feature_layer(tmp_path):
    model, path = _saved_classifier(tmp_path)
    images = separable_images(11, 3)[0].astype(np.float32) / 255.0
    features = evaluation.load_extractor(path, batch_size=4)(images)
    expected = evaluation.keras_model_extractor(model, "features")(images)
    assert features.shape == (11, 5)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)


def test_load_extractor_reads_the_layer_from_the_sidecar(tmp_path):
    model, path = _saved_classifier(tmp_path, sidecar_layer="flatten")
    images = separable_images(4, 3)[0].astype(np.float32) / 255.0
    features = evaluation.load_extractor(path)(images)
    assert features.shape == (4, 4 * 4 * 2)
    with pytest.raises(ValueError, match=r"\(8, 8, 1\)"):
        evaluation.load_extractor(path)(np.zeros((2, 9, 9, 1), np.float32))


def test_load_extractor_errors_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_feature_extractor"):
        evaluation.load_extractor(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="--inception_weights"):
        evaluation.load_extractor("inception")
    with pytest.raises(FileNotFoundError, match="offline"):
        evaluation.load_extractor("inception", inception_weights=str(tmp_path / "no.h5"))
    with pytest.raises(ValueError, match="spec"):
        evaluation.load_extractor("")


def test_augmentation_study_uses_this_network_with_one_conv_per_block():
    # The augmentation study's classifier is this builder with its own widths: one conv
    # per block, the hidden units as the feature layer, no dropout, two logits.
    from tf_smvae.experiments.augmentation import classifier as augment_classifier

    settings = augment_classifier.ClassifierSettings(filters=(4, 8), hidden_units=6)
    model = augment_classifier.build_classifier((8, 8, 1), settings, seed=1)
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == ["conv0_0", "conv1_0"]
    assert model.get_layer(classifier.FEATURE_LAYER).units == 6
    assert model.output_shape == (None, 2)
    assert model.get_layer("dropout").rate == 0.0
    with pytest.raises(ValueError, match="convs_per_block"):
        classifier.build_classifier((8, 8, 1), 2, convs_per_block=0)
