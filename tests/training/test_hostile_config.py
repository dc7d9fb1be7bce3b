"""Bad configs and bad training data: one named error before any work, no workdir left.

See tests/hostile.py for what every hostile-input case asserts.
"""

import numpy as np
import pytest

from configs import base
from tests.hostile import _assert_named
from tests.hostile import _config
from tf_smvae import data
from tf_smvae.training import train_lib
from tf_smvae.training import validation
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

# -- config validation (what bin/train.py checks before any work) ---------------------------

_HMC = {"kernel.name": "hmc"}
_BAD_CONFIGS = [
    # unknown names
    ({"dataset.name": "imagenet"}, "dataset.name"),
    ({"model.network": "transformer"}, "model.network"),
    ({"model.likelihood": "poisson"}, "model.likelihood"),
    ({"model.prior": "laplace"}, "model.prior"),
    ({"model.name": "gan"}, "model.name"),
    ({"model.scale_fn": "relu"}, "model.scale_fn"),
    ({"kernel.name": "nuts"}, "kernel.name"),
    ({**_HMC, "kernel.preconditioner": "full"}, "kernel.preconditioner"),
    ({**_HMC, "kernel.adaptation": "adam"}, "kernel.adaptation"),
    ({**_HMC, "kernel.entropy_estimator": "lanczos"}, "kernel.entropy_estimator"),
    ({**_HMC, "kernel.gradient_mode": "third_order"}, "kernel.gradient_mode"),
    ({**_HMC, "kernel.eval_proposal": "median"}, "kernel.eval_proposal"),
    ({"dataset.binarization": "random"}, "dataset.binarization"),
    ({"eval.kid_real_images": "colour"}, "eval.kid_real_images"),
    # out of range or of the wrong type
    ({**_HMC, "kernel.num_leapfrog_steps": 0}, "kernel.num_leapfrog_steps"),
    ({**_HMC, "kernel.num_steps": -1}, "kernel.num_steps"),
    ({"train.learning_rate": -1e-3}, "train.learning_rate"),
    ({"train.learning_rate": 0.0}, "train.learning_rate"),
    ({"train.learning_rate": float("nan")}, "train.learning_rate"),
    ({"train.learning_rate": float("inf")}, "train.learning_rate"),
    ({**_HMC, "kernel.learning_rate": 0.0}, "kernel.learning_rate"),
    ({**_HMC, "kernel.init_step_size": -0.1}, "kernel.init_step_size"),
    ({**_HMC, "kernel.entropy_weight_rate": -0.5}, "kernel.entropy_weight_rate"),
    ({**_HMC, "kernel.target_accept_prob": 1.0}, "kernel.target_accept_prob"),
    ({"train.epochs": 0}, "train.epochs"),
    ({"train.epochs": True}, "train.epochs"),
    ({"train.keep_checkpoints": 0}, "train.keep_checkpoints"),
    ({"train.checkpoint_every_steps": -1}, "train.checkpoint_every_steps"),
    ({"train.verbose": 3}, "train.verbose"),
    ({"model.latent_dim": 0}, "model.latent_dim"),
    ({"model.hidden_units": (32, 0)}, "model.hidden_units"),
    ({"model.prior_num_components": 0}, "model.prior_num_components"),
    ({"eval.tau": 0.0}, "eval.tau"),
    ({"eval.num_samples": 0}, "eval.num_samples"),
    ({"eval.kid_subset_size": 1}, "eval.kid_subset_size"),
    ({"seed": -1}, "seed"),
    ({"dataset.num_train_examples": 0}, "dataset.num_train_examples"),
    # contradictions
    ({**_HMC, "kernel.mcmc_start_epoch": 1}, "kernel.mcmc_start_epoch"),  # epochs = 1
    ({**_HMC, "kernel.mcmc_start_epoch": 5}, "kernel.mcmc_start_epoch"),
    (
        {**_HMC, "kernel.adaptation": "dual_averaging", "kernel.preconditioner": "tril"},
        "kernel.preconditioner",
    ),
    (
        {
            **_HMC,
            "kernel.adaptation": "speed_measure_dual_averaging",
            "kernel.preconditioner": "identity",
        },
        "kernel.preconditioner",
    ),
    ({"model.name": "hvae", "model.prior": "mog"}, "model.prior"),
    ({"model.name": "hvae", "model.latent_dims": ()}, "model.latent_dims"),
]


@pytest.mark.parametrize(
    "overrides, field", _BAD_CONFIGS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(_BAD_CONFIGS)]
)
def test_bad_config_is_named_and_leaves_no_workdir(files, tmp_path, overrides, field):
    workdir = tmp_path / "run"
    with pytest.raises(ConfigError) as error:
        train_lib.run(_config(files, **overrides), str(workdir), base.get_config())
    _assert_named(error, field)
    assert not workdir.exists()


def test_unknown_config_key_is_named(files):
    import ml_collections

    config = ml_collections.ConfigDict(_config(files).to_dict())
    config.kernel.num_leapfrogs = 3
    with pytest.raises(ConfigError) as error:
        validation.validate_config(config, base.get_config())
    _assert_named(error, "kernel.num_leapfrogs")


# -- bad data through train_lib.run and data.load --------------------------------------------

_BAD_DATA = [
    ("nan", {}, "non-finite"),
    ("inf", {}, "non-finite"),
    ("range", {}, "[0, 1]"),
    ("negative", {}, "[0, 1]"),
    ("offgrid", {"model.likelihood": "discretized_logistic"}, "k/255"),
    ("empty", {}, "no examples"),
    ("shape", {}, "shape"),
    ("strings", {}, "dtype"),
    ("big_ints", {}, "0..255"),
    ("corrupt", {}, "Cannot read"),
    ("no_x", {}, "'x'"),
    ("missing", {}, "not found"),
]


@pytest.mark.parametrize("name, overrides, problem", _BAD_DATA, ids=[c[0] for c in _BAD_DATA])
def test_bad_training_data_names_the_file(files, tmp_path, name, overrides, problem):
    config = _config(files, **{"dataset.data_dir": files[name], **overrides})
    with pytest.raises(DataError) as error:
        train_lib.run(config, str(tmp_path / "run"), base.get_config())
    _assert_named(error, files[name], problem)


def test_bad_training_data_leaves_no_workdir(files, tmp_path):
    workdir = tmp_path / "run"
    with pytest.raises(DataError):
        train_lib.run(_config(files, **{"dataset.data_dir": files["nan"]}), str(workdir))
    assert not workdir.exists()


def test_offgrid_floats_are_fine_for_bernoulli(files):
    batch = next(iter(data.load("npz", "train", data_dir=files["offgrid"], batch_size=4)))
    assert set(np.unique(batch.numpy())) <= {0.0, 1.0}


_BAD_LOADS = [
    ("unknown dataset", dict(name="imagenet"), ConfigError, "imagenet"),
    ("unknown likelihood", dict(likelihood="poisson"), ConfigError, "likelihood"),
    ("unknown binarization", dict(binarization="random"), ConfigError, "binarization"),
    ("batch_size 0", dict(batch_size=0), ConfigError, "batch_size"),
    ("num_examples -1", dict(num_examples=-1), ConfigError, "num_examples"),
    ("image_size -1", dict(image_size=-1), ConfigError, "image_size"),
    ("no full batch", dict(batch_size=1000, drop_remainder=True), DataError, "full batch"),
    ("labels missing", dict(with_labels=True), DataError, "labels"),
    ("no data_dir", dict(data_dir=None), DataError, "data_dir"),
    (
        "mnist nowhere",
        dict(name="mnist", data_dir="/nonexistent", download=False),
        DataError,
        "/nonexistent",
    ),
]


@pytest.mark.parametrize(
    "case, kwargs, error_type, named", _BAD_LOADS, ids=[c[0] for c in _BAD_LOADS]
)
def test_data_load_names_the_bad_argument(files, case, kwargs, error_type, named):
    arguments = dict(name="npz", split="train", data_dir=files["good"])
    arguments.update(kwargs)
    with pytest.raises(error_type) as error:
        data.load(arguments.pop("name"), arguments.pop("split"), **arguments)
    _assert_named(error, named)
