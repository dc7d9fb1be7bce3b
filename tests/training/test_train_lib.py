"""train_lib.run on the smoke config: outputs, resumption, config validation."""

import json
import os

import keras
import ml_collections
import numpy as np
import pytest

from configs import base
from configs import smoke
from tf_smvae.training import train_lib
from tf_smvae.training import validation
from tf_smvae.util.errors import ConfigError


def _read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as stream:
        return [json.loads(line) for line in stream]


def test_run_writes_every_output(tmp_path):
    workdir = str(tmp_path)
    config = smoke.get_config()
    model = train_lib.run(config, workdir, reference_config=base.get_config())
    records = _read_metrics(workdir)
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[-1]["step"] == 8  # 200 examples / batch 50 = 4 steps per epoch
    assert {"loss", "elbo", "kl", "reconstruction", "val_elbo"} <= set(records[-1])
    samples = sorted(os.listdir(tmp_path / "samples"))
    assert samples == [
        "reconstructions_epoch0001.png",
        "reconstructions_epoch0002.png",
        "samples_epoch0001.png",
        "samples_epoch0002.png",
    ]
    assert os.listdir(tmp_path / "tensorboard")
    with open(tmp_path / "config.json") as stream:
        assert json.load(stream)["model"]["latent_dim"] == 4
    loaded = keras.models.load_model(str(tmp_path / "model.keras"))
    x = np.zeros((2, 28, 28, 1), np.float32)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    _, restored = train_lib.restore_model(workdir)
    np.testing.assert_array_equal(restored.reconstruct(x), model.reconstruct(x))


def test_rerun_resumes_and_extends(tmp_path):
    workdir = str(tmp_path)
    config = smoke.get_config()
    config.train.epochs = 1
    train_lib.run(config, workdir)
    config.train.epochs = 3
    model = train_lib.run(config, workdir)
    assert [r["epoch"] for r in _read_metrics(workdir)] == [1, 2, 3]
    assert int(model.optimizer.iterations.numpy()) == 12
    # Rerunning a finished run trains nothing more.
    again = train_lib.run(config, workdir)
    assert int(again.optimizer.iterations.numpy()) == 12
    assert len(_read_metrics(workdir)) == 3


def test_mid_epoch_checkpoint_finishes_the_epoch_then_continues(tmp_path):
    workdir = str(tmp_path)
    config = smoke.get_config()
    train_lib.run(config, workdir)
    # Pretend the run died after step 6 (mid-epoch 2): drop the later checkpoint.
    checkpoints = tmp_path / "checkpoints"
    with open(checkpoints / "checkpoint", "w") as stream:
        stream.write('model_checkpoint_path: "ckpt-6"\nall_model_checkpoint_paths: "ckpt-6"\n')
    model = train_lib.run(config, workdir)
    assert int(model.optimizer.iterations.numpy()) == 8  # two remaining steps, not four


def test_changed_config_is_refused(tmp_path):
    config = smoke.get_config()
    config.train.epochs = 1
    train_lib.run(config, str(tmp_path))
    config.model.latent_dim = 5
    with pytest.raises(ConfigError, match="model.latent_dim"):
        train_lib.run(config, str(tmp_path))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("train.learning_rate", -1.0, "train.learning_rate"),
        ("train.epochs", 0, "train.epochs"),
        ("model.latent_dim", 0, "model.latent_dim"),
        ("eval.tau", 0.0, "eval.tau"),
        ("dataset.name", "not_a_dataset", "dataset.name"),
        ("model.prior", "laplace", "model.prior"),
        ("model.network", "transformer", "model.network"),
        ("model.likelihood", "poisson", "model.likelihood"),
        ("kernel.name", "nuts", "kernel.name"),
        ("dataset.binarization", "random", "dataset.binarization"),
        ("kernel.adaptation", "adam", "kernel.adaptation"),
        ("kernel.preconditioner", "full", "kernel.preconditioner"),
        ("kernel.num_leapfrog_steps", 0, "kernel.num_leapfrog_steps"),
        ("kernel.num_steps", 0, "kernel.num_steps"),
        ("kernel.learning_rate", -0.1, "kernel.learning_rate"),
        ("kernel.mcmc_start_epoch", 2, "kernel.mcmc_start_epoch"),
        ("kernel.target_accept_prob", 1.5, "kernel.target_accept_prob"),
        ("kernel.entropy_estimator", "lanczos", "kernel.entropy_estimator"),
    ],
)
def test_bad_config_fields_are_named(field, value, message):
    config = smoke.get_config()
    section, leaf = field.split(".")
    if section == "kernel":
        config.kernel.name = "hmc"
    config[section][leaf] = value
    with pytest.raises(ConfigError, match=message):
        validation.validate_config(config)


def test_unknown_config_key_is_named():
    config = ml_collections.ConfigDict(smoke.get_config().to_dict())
    config.train.epoch_count = 3
    with pytest.raises(ConfigError, match="train.epoch_count"):
        validation.validate_config(config, reference=base.get_config())


def test_dual_averaging_needs_the_identity_preconditioner():
    config = smoke.get_config()
    config.kernel.name = "mala"
    config.kernel.adaptation = "dual_averaging"
    with pytest.raises(ConfigError, match="kernel.preconditioner"):
        validation.validate_config(config)


def test_svhn_with_mala_trains_through_tfds(tmp_path):
    # `bin/train.py --dataset=svhn --kernel=mala` on tfds's mock SVHN (no download here).
    import tensorflow_datasets as tfds

    config = smoke.get_config()
    config.dataset.name = "svhn"
    config.kernel.name = "mala"
    config.kernel.num_steps = 2
    config.train.epochs = 1
    config.train.checkpoint_every_steps = 0
    with tfds.testing.mock_data(num_examples=100):
        model = train_lib.run(config, str(tmp_path))
    assert model.image_shape == (32, 32, 3)
    record = _read_metrics(str(tmp_path))[-1]
    assert 0.0 < record["acceptance"] <= 1.0 and "step_size" in record


def test_trains_on_the_simulated_linear_gaussian_data(tmp_path):
    config = smoke.get_config()
    config.dataset.name = "linear_gaussian"
    config.model.likelihood = "gaussian"
    config.train.epochs = 1
    config.train.num_sample_images = 4
    model = train_lib.run(config, str(tmp_path))
    assert model.image_shape == (1, 10, 1)
    assert np.isfinite(_read_metrics(str(tmp_path))[-1]["val_elbo"])


def _events(directory):
    """tag -> [(step, value or image shape)] from the TensorBoard event files in directory."""
    import tensorflow as tf

    found = {}
    for name in sorted(os.listdir(directory)):
        for record in tf.data.TFRecordDataset(os.path.join(directory, name)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                found.setdefault(value.tag, []).append((event.step, tensor))
    return found


def test_tensorboard_gets_kernel_diagnostics_in_the_mcmc_phase(tmp_path):
    config = smoke.get_config()
    config.kernel.name = "mala"
    config.kernel.preconditioner = "tril"
    config.kernel.num_steps = 2
    config.kernel.mcmc_start_epoch = 1
    config.train.checkpoint_every_steps = 0
    model = train_lib.run(config, str(tmp_path))
    events = _events(os.path.join(str(tmp_path), "tensorboard", "kernel"))
    # Epoch 1 is plain ELBO: only epoch 2 is logged.
    assert [step for step, _ in events["kernel/condition_number"]] == [2]
    ((_, kappa),) = events["kernel/condition_number"]
    scale = model.refinement.kernel_parameters.dense_scale_tril().numpy()
    singular = np.linalg.svd(scale.astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(float(kappa), singular.max() / singular.min(), rtol=1e-4)
    ((_, fraction),) = events["kernel/dropped_grad_fraction"]
    assert 0.0 <= float(fraction) <= 1.0
    ((_, jump),) = events["kernel/squared_jump"]
    record = _read_metrics(str(tmp_path))[-1]
    np.testing.assert_allclose(float(jump), record["squared_jump"], rtol=1e-5)
    assert record["squared_jump"] > 0.0 and _read_metrics(str(tmp_path))[0]["squared_jump"] == "nan"
    assert "kernel/scale" in events and "kernel/scale_diag" in events


def test_heat_map_scales_magnitudes_to_unit_range():
    from tf_smvae.training import callbacks

    image = callbacks.heat_map(np.array([[2.0, 0.0], [-1.0, 4.0]]))
    assert image.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(image[0, :, :, 0], [[0.5, 0.0], [0.25, 1.0]])
    np.testing.assert_array_equal(callbacks.heat_map(np.zeros((2, 2))), np.zeros((1, 2, 2, 1)))
