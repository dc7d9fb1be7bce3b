"""bin/reproduce_table3.py (--quick) and bin/augment.py end to end on a tiny 1:3 image folder."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import base
from configs import table3_augmentation
from tests import golden
from tf_smvae import data
from tf_smvae.experiments import common
from tf_smvae.experiments.augmentation import classifier as augment_classifier
from tf_smvae.experiments.augmentation import images as augment_images
from tf_smvae.experiments.augmentation import kid as augment_kid
from tf_smvae.experiments.augmentation import runner as augment_lib
from tf_smvae.training import train_lib
from tf_smvae.util import images as images_lib
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROW = "VAE-gradHMC"
MINORITY = "b_minor"


def _run(binary, *args):
    command = [sys.executable, os.path.join(ROOT, "bin", binary), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def _write_folder(root):
    """train/ and test/ with classes a_major (24 + 12) and b_minor (8 + 4): 8x8 grey PNGs.

    Every image is distinct (noise); the majority is bright at the top, the minority at
    the bottom.
    """
    rng = np.random.default_rng(0)
    for split, scale in (("train", 1), ("test", 0.5)):
        for name, count, rows in (("a_major", 24, slice(0, 4)), (MINORITY, 8, slice(4, 8))):
            for index in range(int(count * scale)):
                image = rng.integers(0, 60, size=(8, 8, 1))
                image[rows] += 150
                path = os.path.join(root, split, name, f"{index:03d}.png")
                images_lib.write_png(path, image.astype(np.uint8))
    return str(root)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One quick study: 1 seed, 1 row, N = 10, the minority's VAE only."""
    folder = _write_folder(tmp_path_factory.mktemp("folder"))
    workdir = str(tmp_path_factory.mktemp("table3"))
    out = _run(
        "reproduce_table3.py",
        f"--data_dir={folder}",
        f"--workdir={workdir}",
        "--quick",
        "--seeds=0",
        f"--rows={ROW}",
        "--num_synthetic=10",
        "--vae_classes=minority",
        "--nojit_compile",
        "--name=tiny",
    )
    return folder, workdir, out


def _study_settings(**overrides):
    """The `study` fixture's settings, as the library takes them."""
    settings = augment_lib.Settings(
        num_synthetic=(10,),
        rows=(ROW,),
        seeds=(0,),
        vae_classes="minority",
        name="tiny",
        quick=True,
        jit_compile=False,
        verbose=False,
    )
    return common.replace(settings, **overrides)


def test_quick_study_writes_table_results_and_grids(study):
    _, workdir, out = study
    assert "table3.md" in out
    with open(os.path.join(workdir, "results.json")) as stream:
        results = json.load(stream)
    assert list(results) == ["tiny"]
    assert list(results["tiny"]) == [f"{ROW}/N=10", "No augmentation"]
    golden.check("augment_quick_results", results)
    for entry in results["tiny"].values():
        assert set(entry) == {"balanced_accuracy", "tpr", "tnr"}
        for metric in entry.values():
            assert 0.0 <= metric["mean"] <= 1.0 and metric["std"] == 0.0 and metric["seeds"] == 1
        bacc = entry["balanced_accuracy"]["mean"]
        assert bacc == pytest.approx(0.5 * (entry["tpr"]["mean"] + entry["tnr"]["mean"]))
    with open(os.path.join(workdir, "table3.md")) as stream:
        table = stream.read()
    assert f"| {ROW} | 10 |" in table
    assert "| No augmentation | 0 |" in table and "0.878 (0.02)" in table  # the paper's
    synthetic = os.path.join(workdir, "synthetic", ROW, "seed0", MINORITY)
    assert len(os.listdir(synthetic)) == 10
    grids = os.listdir(os.path.join(workdir, "samples"))
    assert f"{ROW}_seed0_{MINORITY}.png" in grids and f"real_{MINORITY}.png" in grids
    with open(os.path.join(workdir, "runs", ROW, "seed0", "N=10.json")) as stream:
        record = json.load(stream)
    # 32 training images: 20 % of each class (5 of 24, 2 of 8) held out for validation.
    assert record["num_synthetic"] == 10 and record["positive_class"] == MINORITY
    assert (record["num_train_real"], record["num_validation"], record["num_test"]) == (25, 7, 16)


def test_validation_split_is_training_data_never_test(study):
    folder, workdir, _ = study
    x_train, y_train = data.load_arrays("image_folder", "train", data_dir=folder)
    x_test, _ = data.load_arrays("image_folder", "test", data_dir=folder)
    with open(os.path.join(workdir, "split.json")) as stream:
        split = json.load(stream)
    train, validation = set(split["train_indices"]), set(split["validation_indices"])
    assert not train & validation and train | validation == set(range(len(y_train)))
    # The minority VAE's validation data (class_data/<class>/test.npz) are held-out
    # training images of that class, and none of them is a test image.
    held_out = np.load(os.path.join(workdir, "class_data", MINORITY, "test.npz"))["x"]
    minority_label = split["positive_label"]
    expected = [i for i in sorted(validation) if y_train[i] == minority_label]
    np.testing.assert_array_equal(held_out, x_train[expected])
    test_images = {image.tobytes() for image in x_test}
    assert not any(image.tobytes() in test_images for image in held_out)


class _MajorityModel:
    """Stands in for the classifier: predicts the negative class for every image."""

    def predict(self, x, **kwargs):
        return np.tile(np.float32([[1.0, -1.0]]), (len(x), 1))


def test_classifier_early_stops_on_training_images_only(study, tmp_path, monkeypatch):
    folder, _, _ = study
    seen = {}

    def spy(train, validation, settings, seed):
        seen["train"], seen["validation"] = train[0], validation[0]
        return _MajorityModel(), dict(epochs_trained=1, best_epoch=1)

    monkeypatch.setattr(augment_classifier, "train_classifier", spy)
    settings = augment_lib.Settings(
        rows=(), seeds=(0,), quick=True, jit_compile=False, verbose=False
    )
    results = augment_lib.run(folder, str(tmp_path), {}, settings)
    entry = results[os.path.basename(folder)]
    assert list(entry) == ["No augmentation"]
    # Predicting the majority everywhere: the minority is the positive class.
    assert entry["No augmentation"]["tpr"]["mean"] == 0.0
    assert entry["No augmentation"]["tnr"]["mean"] == 1.0
    x_train, _ = data.load_arrays("image_folder", "train", data_dir=folder)
    x_test, _ = data.load_arrays("image_folder", "test", data_dir=folder)
    train_images = {image.tobytes() for image in x_train}
    test_images = {image.tobytes() for image in x_test}
    validation = [image.tobytes() for image in seen["validation"]]
    assert validation and all(v in train_images and v not in test_images for v in validation)
    assert not set(validation) & {image.tobytes() for image in seen["train"]}


def test_rerun_trains_nothing(study, monkeypatch):
    folder, workdir, _ = study

    def refuse(*args, **kwargs):
        raise AssertionError("a finished piece was trained again")

    monkeypatch.setattr(augment_classifier, "train_classifier", refuse)
    monkeypatch.setattr(train_lib, "run", refuse)
    settings = _study_settings()
    configs = {ROW: table3_augmentation.get_config("gradhmc")}
    results = augment_lib.run(folder, workdir, configs, settings, base.get_config())
    with open(os.path.join(workdir, "results.json")) as stream:
        assert json.load(stream) == results
    # Other settings would mix runs: refused, naming what changed.
    slower = common.replace(settings, quick=False, epochs_scale=0.5)
    with pytest.raises(ConfigError, match="epochs_scale, quick"):
        augment_lib.run(folder, workdir, configs, slower, base.get_config())


def test_augment_binary_writes_the_models_mean_images(study, tmp_path):
    _, workdir, _ = study
    run = os.path.join(workdir, "vaes", ROW, "seed0", MINORITY)
    out = str(tmp_path / "train" / MINORITY)
    printed = _run("augment.py", f"--workdir={run}", "--num_images=10", f"--out={out}")
    assert "Wrote 10 images" in printed
    names = sorted(os.listdir(out))
    assert len(names) == 10 and all(n.endswith(".png") for n in names)
    written = np.stack(
        [tf.io.decode_png(tf.io.read_file(os.path.join(out, n))).numpy() for n in names]
    )
    assert written.shape == (10, 8, 8, 1) and written.dtype == np.uint8
    # The same model and seed as the study's synthetic images: the same images.
    study_images = augment_images.read_images(
        os.path.join(workdir, "synthetic", ROW, "seed0", MINORITY), channels=1
    )
    assert np.max(np.abs(written.astype(int) - study_images.astype(int))) <= 1
    assert written.std() > 0  # not a constant image


def test_write_and_read_images_round_trip_rgb(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(3, 5, 4, 3)).astype(np.uint8)
    paths = augment_images.write_images(images, str(tmp_path), prefix="x")
    assert [os.path.basename(p) for p in paths] == ["x_000000.png", "x_000001.png", "x_000002.png"]
    np.testing.assert_array_equal(augment_images.read_images(str(tmp_path), channels=3), images)
    with pytest.raises(ValueError, match="uint8 images"):
        augment_images.write_images(images.astype(np.float32), str(tmp_path))
    assert augment_images.to_uint8([[-0.2, 0.5, 1.3]]).tolist() == [[0, 128, 255]]
    with pytest.raises(ValueError, match="diverged"):
        augment_images.to_uint8([np.nan])


def test_split_is_stratified_seeded_and_checked():
    labels = np.array([0] * 30 + [1] * 10)
    train, validation = augment_classifier.split_train_validation(labels, 0.2, seed=3)
    assert np.bincount(labels[validation]).tolist() == [6, 2]
    assert sorted([*train, *validation]) == list(range(40))
    again = augment_classifier.split_train_validation(labels, 0.2, seed=3)
    np.testing.assert_array_equal(again[1], validation)
    with pytest.raises(ConfigError, match="validation_fraction"):
        augment_classifier.split_train_validation(labels, 1.0)
    with pytest.raises(DataError, match="at least 2"):
        augment_classifier.split_train_validation(np.array([0, 0, 1]), 0.5)


def test_config_holds_the_papers_settings_and_scales_epochs():
    config = table3_augmentation.get_config("gradhmc")
    assert (config.model.latent_dim, config.model.likelihood) == (20, "discretized_logistic")
    assert config.model.likelihood_variance == 0.05
    assert (config.train.learning_rate, config.kernel.learning_rate) == (1e-3, 1e-2)
    assert (config.train.epochs, config.kernel.mcmc_start_epoch) == (2000, 1900)
    settings = augment_lib.Settings(epochs_scale=0.01)
    scaled = augment_lib._vae_config(config, 1, "/data", 40, settings)
    assert (scaled.train.epochs, scaled.kernel.mcmc_start_epoch) == (20, 19)
    assert scaled.train.batch_size == 40 and scaled.seed == 1 and scaled.dataset.name == "npz"
    assert config.train.epochs == 2000  # the row's config is not modified


def test_bad_settings_fail_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="Unknown rows"):
        augment_lib.run(str(tmp_path), str(tmp_path), {}, augment_lib.Settings(rows=("VAE",)))
    with pytest.raises(ConfigError, match="num_synthetic"):
        augment_lib.run(
            str(tmp_path), str(tmp_path), {}, augment_lib.Settings(rows=(), num_synthetic=(0,))
        )


def test_imbalanced_fashion_mnist_folder(tmp_path):
    try:
        data.load_arrays("fashion_mnist", "test")
    except DataError:
        pytest.skip("Fashion-MNIST IDX files are not installed.")
    out = str(tmp_path / "fmnist")
    counts = augment_images.make_imbalanced_folder(
        out, num_majority_train=9, num_majority_test=6, ratio=3
    )
    assert counts == {
        "train": {"t_shirt_top": 9, "shirt": 3},
        "test": {"t_shirt_top": 6, "shirt": 2},
    }
    x, y = data.load_arrays("image_folder", "train", data_dir=out)
    assert x.shape == (12, 28, 28, 1) and np.bincount(y).tolist() == [3, 9]  # shirt < t_shirt
    x_source, y_source = data.load_arrays("fashion_mnist", "train")
    name = sorted(os.listdir(os.path.join(out, "train", "shirt")))[0]
    assert y_source[int(name[:-4])] == 6  # file name = index in the source split
    np.testing.assert_array_equal(x[0], x_source[int(name[:-4])])
    with pytest.raises(ConfigError, match="not empty"):
        augment_images.make_imbalanced_folder(out)
    with pytest.raises(ConfigError, match="different labels"):
        augment_images.make_imbalanced_folder(str(tmp_path / "x"), majority_class=6)


def _tiny_extractor(path):
    """An (untrained, seeded) 8x8 classifier whose "features" layer KID reads."""
    init = keras.initializers.GlorotUniform(seed=3)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="tanh", kernel_initializer=init, name="features"),
            keras.layers.Dense(2, kernel_initializer=init),
        ]
    )
    model.save(path)
    return path


def test_kid_columns_score_each_class_vae_against_its_test_images(study, tmp_path):
    folder, workdir, _ = study  # its trained VAE and finished runs are reused
    kid = augment_kid.KIDSettings(
        feature_extractor=_tiny_extractor(str(tmp_path / "extractor.keras")),
        num_samples=20,
        num_subsets=5,
        subset_size=4,
    )
    settings = _study_settings(kid=kid)
    configs = {ROW: table3_augmentation.get_config("gradhmc")}
    results = augment_lib.run(folder, workdir, configs, settings, base.get_config())
    entry = results["tiny"][augment_kid.kid_key(ROW, MINORITY)]["kid"]
    assert entry["seeds"] == 1 and np.isfinite(entry["mean"])
    # The same number as scoring the restored VAE directly.
    _, model = train_lib.restore_model(os.path.join(workdir, "vaes", ROW, "seed0", MINORITY))
    x_test, y_test = data.load_arrays("image_folder", "test", data_dir=folder)
    minority = x_test[y_test == 1]
    direct = augment_kid.class_kid(model, minority, augment_kid.load_extractor(kid), kid, seed=0)
    np.testing.assert_allclose(entry["mean"], direct["kid"], rtol=1e-6)
    with open(os.path.join(workdir, "table3.md")) as stream:
        table = stream.read()
    assert f"KID {MINORITY}" in table
    bad = common.replace(kid, feature_extractor=str(tmp_path / "missing.keras"))
    with pytest.raises(ConfigError, match="missing.keras"):
        augment_lib.run(folder, workdir, configs, common.replace(settings, kid=bad))
