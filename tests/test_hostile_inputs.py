"""The hostile-input suite (DESIGN section 10, issue 6 item 3).

Every public entry point given bad input raises ONE error of a stated type whose message
names the bad field, flag, argument or file, leaves no partial output behind, and never
returns a silent NaN. Most cases run in-process through the library functions the
binaries call (validation, train_lib, evaluate_lib, data.load, the models, evaluation);
a handful run the real binaries to check the `error:` line, the exit status and the
absence of a traceback.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from configs import base
from configs import smoke
from tf_smvae import data
from tf_smvae import evaluation
from tf_smvae.training import evaluate_lib
from tf_smvae.training import train_lib
from tf_smvae.training import validation
from tf_smvae.util import cli
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (28, 28, 1)
_SMALL = {"hidden_units": (8,)}


# -- shared fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small .npz datasets, good and bad, and a few non-dataset files."""
    root = tmp_path_factory.mktemp("hostile_data")
    rng = np.random.default_rng(0)
    good = (rng.random((40, 28, 28)) * 255).astype(np.uint8)
    nan = good.astype(np.float32) / 255.0
    nan[3, 4, 5] = np.nan
    inf = good.astype(np.float32) / 255.0
    inf[0, 0, 0] = np.inf
    arrays = {
        "good": good,
        "nan": nan,
        "inf": inf,
        "range": good.astype(np.float32),  # floats 0..255, not [0, 1]
        "negative": (rng.random((40, 28, 28)) - 0.5).astype(np.float32),
        "offgrid": rng.random((40, 28, 28)).astype(np.float32),  # fine for Bernoulli only
        "empty": np.zeros((0, 28, 28), np.uint8),
        "shape": np.zeros((40, 28), np.uint8),
        "strings": np.full((4, 28, 28), "a"),
        "big_ints": np.full((4, 28, 28), 300, np.int32),
    }
    paths = {}
    for name, x in arrays.items():
        paths[name] = str(root / f"{name}.npz")
        np.savez(paths[name], x=x)
    paths["corrupt"] = str(root / "corrupt.npz")
    with open(paths["corrupt"], "wb") as stream:
        stream.write(b"not an npz file")
    paths["no_x"] = str(root / "no_x.npz")
    np.savez(paths["no_x"], images=good)
    paths["missing"] = str(root / "missing.npz")
    paths["root"] = str(root)
    return paths


def _config(files, **overrides):
    """The smoke config on the tiny `good.npz`, one epoch; overrides as 'section.leaf'."""
    config = smoke.get_config()
    config.dataset.name = "npz"
    config.dataset.data_dir = files["good"]
    config.dataset.num_train_examples = None
    config.dataset.num_test_examples = None
    config.eval.num_examples = None
    config.train.epochs = 1
    config.train.batch_size = 20
    config.train.jit_compile = False
    for field, value in overrides.items():
        node = config
        *parents, leaf = field.split(".")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


@pytest.fixture(scope="module")
def run_dir(files, tmp_path_factory):
    """A finished one-epoch run on good.npz, exported once (read-only for the tests)."""
    workdir = str(tmp_path_factory.mktemp("hostile_run") / "run")
    train_lib.run(_config(files), workdir, reference_config=base.get_config())
    evaluate_lib.export(workdir)
    return workdir


def _copy_run(run_dir, tmp_path):
    import shutil

    target = str(tmp_path / "run")
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("export", "eval.json"))
    return target


def _assert_named(error, *names):
    message = str(error.value)
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"
    assert "Traceback" not in message


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


# -- the models' constructors -----------------------------------------------------------------

_BAD_MODELS = [
    (tf_smvae.VAE, dict(latent_dim=0), "latent_dim"),
    (tf_smvae.VAE, dict(image_shape=(0, 28, 1)), "event_shape"),
    (tf_smvae.VAE, dict(network="transformer"), "network"),
    (tf_smvae.VAE, dict(likelihood="poisson"), "likelihood"),
    (tf_smvae.VAE, dict(prior="laplace"), "prior"),
    (tf_smvae.VAE, dict(scale_fn="relu"), "scale_fn"),
    (tf_smvae.VAE, dict(image_shape=(5, 7, 2), network="conv"), "conv"),
    (tf_smvae.SpeedMeasureVAE, dict(kernel="nuts"), "kernel"),
    (tf_smvae.SpeedMeasureVAE, dict(preconditioner="full"), "preconditioner"),
    (tf_smvae.SpeedMeasureVAE, dict(adaptation="adam"), "adaptation"),
    (tf_smvae.SpeedMeasureVAE, dict(entropy_estimator="lanczos"), "entropy_estimator"),
    (tf_smvae.SpeedMeasureVAE, dict(gradient_mode="third"), "gradient_mode"),
    (tf_smvae.SpeedMeasureVAE, dict(num_leapfrog_steps=0), "num_leapfrog_steps"),
    (tf_smvae.SpeedMeasureVAE, dict(num_mcmc_steps=0), "num_steps"),
    (tf_smvae.SpeedMeasureVAE, dict(init_step_size=-1.0), "init_step_size"),
    (
        tf_smvae.SpeedMeasureVAE,
        dict(adaptation="dual_averaging", preconditioner="tril"),
        "preconditioner",
    ),
    (
        tf_smvae.SpeedMeasureVAE,
        dict(adaptation="speed_measure_dual_averaging", preconditioner="identity"),
        "preconditioner",
    ),
    pytest.param(
        tf_smvae.SpeedMeasureVAE,
        dict(eval_proposal="median"),
        "eval_proposal",
    ),
    pytest.param(
        tf_smvae.SpeedMeasureVAE,
        dict(num_eval_chains=0),
        "num_eval_chains",
    ),
    pytest.param(
        tf_smvae.SpeedMeasureVAE,
        dict(mcmc_start_epoch=-1),
        "mcmc_start_epoch",
    ),
    (tf_smvae.VAE, dict(latent_dim=2.5), "latent_dim"),
]


@pytest.mark.parametrize(
    "cls, kwargs, named", _BAD_MODELS, ids=[f"{i}" for i in range(len(_BAD_MODELS))]
)
def test_model_constructor_names_the_bad_argument(cls, kwargs, named):
    arguments = dict(image_shape=SHAPE, latent_dim=2, network_kwargs=_SMALL)
    if cls is tf_smvae.SpeedMeasureVAE:
        arguments["kernel"] = "hmc"
    arguments.update(kwargs)
    with pytest.raises(ConfigError) as error:
        cls(**arguments)
    _assert_named(error, named)


# -- user arrays given to a model (likelihood.check_data, data.check_model_input) ------------


def _binary(num=8, shape=SHAPE):
    return (np.random.default_rng(1).random((num, *shape)) > 0.5).astype(np.float32)


def _with(x, index, value):
    x = x.copy()
    x[index] = value
    return x


_BAD_ARRAYS = [
    ("nan", "bernoulli", _with(_binary(), (0, 0, 0, 0), np.nan), "non-finite"),
    ("inf", "gaussian", _with(_binary(), (1, 2, 3, 0), -np.inf), "non-finite"),
    ("above 1", "bernoulli", _binary() * 2.0, "[0, 1]"),
    ("grey levels 0..255", "discretized_logistic", _binary() * 255.0, "[0, 1]"),
    ("negative", "bernoulli", _binary() - 0.5, "[0, 1]"),
    ("off the bins", "discretized_logistic", _binary() * 0.5, "k/255"),
    ("wrong image shape", "bernoulli", _binary(shape=(27, 28, 1)), "[N, 28, 28, 1]"),
    ("no channel axis", "bernoulli", _binary(shape=(28, 28)), "[N, 28, 28, 1]"),
    ("no examples", "bernoulli", np.zeros((0, *SHAPE), np.float32), "no examples"),
    ("strings", "bernoulli", np.full((2, *SHAPE), "a"), "dtype"),
]


@pytest.mark.parametrize(
    "case, likelihood, x, problem", _BAD_ARRAYS, ids=[c[0] for c in _BAD_ARRAYS]
)
def test_likelihood_rejects_data_it_cannot_score(case, likelihood, x, problem):
    layer = tf_smvae.model.likelihoods.make_likelihood(likelihood, SHAPE)
    with pytest.raises(DataError) as error:
        layer.check_data(x, origin="fit(x)")
    _assert_named(error, "fit(x)", problem)


@pytest.mark.parametrize(
    "likelihood, x",
    [
        ("bernoulli", _binary() * 0.3),  # grey levels as probabilities
        ("discretized_logistic", np.round(_binary() * 200.0) / 255.0),
        ("gaussian", _binary() * 7.0 - 3.0),  # real-valued data
    ],
)
def test_likelihood_accepts_data_it_can_score(likelihood, x):
    layer = tf_smvae.model.likelihoods.make_likelihood(likelihood, SHAPE)
    np.testing.assert_array_equal(layer.check_data(tf.constant(x)), x)


@pytest.fixture(scope="module")
def small_vae():
    model = tf_smvae.VAE(SHAPE, 2, network_kwargs=_SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    return model


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda: tf.data.Dataset.from_tensor_slices(_binary(shape=(27, 28, 1))).batch(4), "shape"),
        (lambda: tf.data.Dataset.from_tensor_slices(np.full((2, *SHAPE), "a")).batch(2), "dtype"),
        (lambda: tf.data.Dataset.from_tensor_slices(_binary()).batch(4).take(0), "empty"),
        (lambda: (_with(_binary(), (0, 0, 0, 0), np.nan), None), "non-finite"),
    ],
    ids=["dataset shape", "dataset dtype", "empty dataset", "tuple with NaN"],
)
def test_check_model_input(small_vae, make, problem):
    with pytest.raises(DataError) as error:
        data.check_model_input(small_vae, make(), origin="data")
    _assert_named(error, "data", problem)
    data.check_model_input(small_vae, _binary(), origin="data")  # good data passes
    data.check_model_input(small_vae, tf.data.Dataset.from_tensor_slices(_binary()).batch(4))


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_fit_on_nan_array_raises_instead_of_a_nan_loss(method):
    model = tf_smvae.VAE(SHAPE, 2, network_kwargs=_SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    x = _with(_binary(), (0, 0, 0, 0), np.nan)
    with pytest.raises(DataError) as error:
        getattr(model, method)(x, batch_size=4, verbose=0)
    _assert_named(error, "non-finite")


def test_fit_on_wrong_shape_names_the_expected_shape():
    model = tf_smvae.VAE(SHAPE, 2, network_kwargs=_SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    with pytest.raises(DataError) as error:
        model.fit(_binary(shape=(27, 28, 1)), batch_size=4, verbose=0)
    _assert_named(error, "28, 28, 1")


# -- evaluation functions -----------------------------------------------------------------------


def test_log_likelihood_bad_arguments(small_vae):
    x = _binary()
    with pytest.raises(ValueError) as error:
        evaluation.log_likelihood(small_vae, x, num_samples=0)
    _assert_named(error, "num_samples")
    with pytest.raises(ValueError) as error:
        evaluation.log_likelihood(small_vae, x, num_samples=2, tau=-1.0)
    _assert_named(error, "tau")
    empty = tf.data.Dataset.from_tensor_slices(x).batch(4).take(0)
    with pytest.raises(ValueError) as error:
        evaluation.log_likelihood(small_vae, empty, num_samples=2)
    _assert_named(error, "empty")


@pytest.mark.parametrize(
    "x, problem",
    [
        (_with(_binary(), (0, 0, 0, 0), np.nan), "non-finite"),
        (_binary() * 3.0, "[0, 1]"),
        (tf.data.Dataset.from_tensor_slices(_binary(shape=(27, 28, 1))).batch(4), "shape"),
    ],
    ids=["nan", "range", "dataset shape"],
)
def test_log_likelihood_rejects_bad_data(small_vae, x, problem):
    with pytest.raises(DataError) as error:
        evaluation.log_likelihood(small_vae, x, num_samples=2, jit_compile=False)
    _assert_named(error, problem)


@pytest.mark.parametrize(
    "real, kwargs, named",
    [
        (np.full((8, 3), np.nan), {}, "real_features"),
        (np.ones((8,)), {}, "real_features"),
        (np.ones((1, 3)), {}, "real_features"),
        (np.ones((8, 3)), dict(num_subsets=0), "num_subsets"),
        (np.ones((8, 3)), dict(subset_size=1), "subset_size"),
    ],
)
def test_kid_names_the_bad_argument(real, kwargs, named):
    with pytest.raises(ValueError) as error:
        evaluation.kid(real, np.ones((8, 3)), **kwargs)
    _assert_named(error, named)


# -- evaluate / export on missing, empty or corrupt workdirs -------------------------------------


def _corrupt_checkpoint_data(workdir):
    directory = os.path.join(workdir, "checkpoints")
    for name in os.listdir(directory):
        if ".data-" in name:
            with open(os.path.join(directory, name), "wb") as stream:
                stream.write(b"xx")


def _remove_checkpoints(workdir):
    import shutil

    shutil.rmtree(os.path.join(workdir, "checkpoints"))


def _corrupt_config(workdir):
    with open(os.path.join(workdir, "config.json"), "w") as stream:
        stream.write("{not json")


def _lose_the_data(workdir):
    import json

    path = os.path.join(workdir, "config.json")
    with open(path) as stream:
        config = json.load(stream)
    config["dataset"]["data_dir"] = "/nonexistent/test.npz"
    with open(path, "w") as stream:
        json.dump(config, stream)


_BROKEN_RUNS = [
    ("no checkpoints", _remove_checkpoints, FileNotFoundError, "checkpoints"),
    ("data gone", _lose_the_data, DataError, "/nonexistent/test.npz"),
    ("corrupt checkpoint", _corrupt_checkpoint_data, ValueError, "ckpt-"),
    pytest.param(
        "corrupt config.json",
        _corrupt_config,
        ValueError,
        "config.json",
    ),
]


@pytest.mark.parametrize(
    "case, breaks, error_type, named", _BROKEN_RUNS, ids=lambda c: c if isinstance(c, str) else ""
)
def test_evaluate_and_export_of_a_broken_run(run_dir, tmp_path, case, breaks, error_type, named):
    workdir = _copy_run(run_dir, tmp_path)
    breaks(workdir)
    with pytest.raises(error_type) as error:
        evaluate_lib.evaluate(workdir, num_samples=2)
    _assert_named(error, named)
    assert not os.path.exists(os.path.join(workdir, "eval.json"))
    if case != "data gone":  # export reads the image shape from the data too
        with pytest.raises(error_type) as error:
            evaluate_lib.export(workdir)
        _assert_named(error, named)
        assert not os.path.exists(os.path.join(workdir, "export"))


@pytest.mark.parametrize("exists", [False, True], ids=["missing workdir", "empty workdir"])
@pytest.mark.parametrize("entry", ["evaluate", "export", "restore_model"])
def test_no_run_in_workdir(tmp_path, exists, entry):
    workdir = tmp_path / "run"
    if exists:
        workdir.mkdir()
    functions = {
        "evaluate": evaluate_lib.evaluate,
        "export": evaluate_lib.export,
        "restore_model": train_lib.restore_model,
    }
    with pytest.raises(FileNotFoundError) as error:
        functions[entry](str(workdir))
    _assert_named(error, "config.json")
    assert sorted(os.listdir(tmp_path)) == (["run"] if exists else [])
    assert not exists or not os.listdir(workdir)


@pytest.mark.parametrize(
    "overrides, error_type, named",
    [
        (dict(num_samples=0), ValueError, "num_samples"),
        (dict(tau=-1.0), ValueError, "tau"),
        (dict(defensive_tau=-1.0), ValueError, "defensive_tau"),
        (dict(log_likelihood=False), ConfigError, "Nothing to evaluate"),
        (dict(log_likelihood=False, kid=True), ConfigError, "kid_feature_extractor"),
        (
            dict(log_likelihood=False, kid=True, kid_feature_extractor="/no/such.keras"),
            FileNotFoundError,
            "/no/such.keras",
        ),
    ],
    ids=[
        "num_samples",
        "tau",
        "defensive_tau",
        "nothing",
        "kid without extractor",
        "missing extractor",
    ],
)
def test_evaluate_bad_options_write_no_eval_json(run_dir, tmp_path, overrides, error_type, named):
    workdir = _copy_run(run_dir, tmp_path)
    with pytest.raises(error_type) as error:
        evaluate_lib.evaluate(workdir, **overrides)
    _assert_named(error, named)
    assert not os.path.exists(os.path.join(workdir, "eval.json"))


# -- the SavedModel endpoints ------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(run_dir):
    return tf.saved_model.load(os.path.join(run_dir, "export"))


_BAD_CALLS = [
    ("encode", lambda s: s.encode(tf.zeros([2, 27, 28, 1])), "encode_x", "(None, 28, 28, 1)"),
    ("encode f64", lambda s: s.encode(tf.zeros([2, 28, 28, 1], tf.float64)), "encode_x", "float32"),
    (
        "reconstruct",
        lambda s: s.reconstruct(tf.zeros([2, 28, 28])),
        "reconstruct_x",
        "(None, 28, 28, 1)",
    ),
    ("decode", lambda s: s.decode(tf.zeros([2, 7])), "decode_z", "(None, 4)"),
    (
        "log_likelihood",
        lambda s: s.log_likelihood(tf.zeros([1, 28, 1, 28]), tf.constant(2), tf.constant([0, 1])),
        "log_likelihood_x",
        "(None, 28, 28, 1)",
    ),
    (
        "sample seed",
        lambda s: s.sample(tf.constant(3), tf.constant([0, 1, 2])),
        "sample_seed",
        "(2,)",
    ),
]


@pytest.mark.parametrize(
    "case, call, spec_name, expected", _BAD_CALLS, ids=[c[0] for c in _BAD_CALLS]
)
def test_saved_model_wrong_input_names_endpoint_and_shape(served, case, call, spec_name, expected):
    with pytest.raises((TypeError, ValueError)) as error:
        call(served)
    _assert_named(error, spec_name, expected)


@pytest.mark.parametrize(
    "call, named",
    [
        (lambda s: s.sample(tf.constant(-1), tf.constant([0, 1])), "sample: num must be >= 0"),
        (
            lambda s: s.log_likelihood(
                tf.zeros([1, 28, 28, 1]), tf.constant(0), tf.constant([0, 1])
            ),
            "log_likelihood: num_samples must be >= 1",
        ),
    ],
    ids=["sample num < 0", "log_likelihood num_samples 0"],
)
def test_saved_model_bad_counts_fail_instead_of_nan(served, call, named):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        call(served)
    assert named in str(error.value)


# -- chains meeting NaN/inf targets keep going -------------------------------------------------


class _NaNForLargeLatents(keras.layers.Layer):
    """Logits NaN (first half of a batch) or +inf (second half) where |z_0| > 6.

    Encoder draws (scale ~0.7 at initialisation) never go there; MCMC proposals with a
    step size of 4 often do.
    """

    def __init__(self, image_shape, **kwargs):
        super().__init__(name="nan_decoder", **kwargs)
        self.image_shape = tuple(image_shape)
        self.dense = keras.layers.Dense(int(np.prod(image_shape)))

    def call(self, z):
        logits = self.dense(z)
        far = tf.abs(z[:, :1]) > 6.0
        half = tf.range(tf.shape(z)[0])[:, None] < tf.shape(z)[0] // 2
        bad = tf.where(half, tf.constant(np.nan, logits.dtype), tf.constant(np.inf, logits.dtype))
        logits = tf.where(far, bad, logits)
        return tf.reshape(logits, [-1, *self.image_shape, 1])


def test_chains_meeting_nonfinite_targets_keep_training():
    keras.utils.set_random_seed(0)
    shape = (4, 4, 1)
    model = tf_smvae.SpeedMeasureVAE(
        shape,
        2,
        kernel="mala",
        preconditioner="diag",
        num_mcmc_steps=4,
        init_step_size=4.0,
        warm_start=False,  # keep the large step size that sends chains to the NaN region
        network_kwargs=_SMALL,
        decoder=_NaNForLargeLatents(shape),
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        kernel_optimizer=keras.optimizers.Adam(1e-3),
        jit_compile=False,
    )
    x = _binary(num=64, shape=shape)
    history = model.fit(x, batch_size=16, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and np.all(np.isfinite(history["generative_loss"]))
    assert sum(history["rejected_nonfinite"]) > 0
    assert 0.0 <= history["acceptance"][-1] < 1.0
    for variable in model.refinement.trainable_variables:
        assert np.all(np.isfinite(variable.numpy())), variable.name


# -- the binaries: one `error:` line, exit status 2, no traceback, no outputs --------------------


def _binary_cases(files, root):
    smoke_config = os.path.join(ROOT, "configs", "smoke.py")
    empty = os.path.join(root, "empty_run")
    os.makedirs(empty)
    return {
        "train bad flag": (
            [
                "train.py",
                f"--config={smoke_config}",
                f"--workdir={root}/train",
                "--kernel=hmc",
                "--num_leapfrog_steps=0",
            ],
            {},
            ["kernel.num_leapfrog_steps"],
            [f"{root}/train"],
        ),
        "evaluate missing workdir": (
            ["evaluate.py", f"--workdir={root}/nowhere"],
            {},
            ["config.json", f"{root}/nowhere"],
            [f"{root}/nowhere"],
        ),
        "export empty workdir": (
            ["export.py", f"--workdir={empty}"],
            {},
            ["config.json"],
            [f"{empty}/export"],
        ),
        "sample missing saved_model": (
            ["sample.py", f"--saved_model={root}/no_export", f"--out={root}/grid.png"],
            {},
            ["--saved_model", f"{root}/no_export"],
            [f"{root}/grid.png"],
        ),
    }


@pytest.fixture(scope="module")
def binary_results(files, tmp_path_factory):
    """Runs every binary case at once (they are mostly TensorFlow import time)."""
    root = str(tmp_path_factory.mktemp("hostile_bin"))
    cases = _binary_cases(files, root)
    processes = {}
    for name, (argv, env, _, _) in cases.items():
        command = [sys.executable, os.path.join(ROOT, "bin", argv[0]), *argv[1:]]
        environment = {k: v for k, v in os.environ.items() if k != cli.VERBOSE_ENV}
        environment.update(CUDA_VISIBLE_DEVICES="", **env)
        processes[name] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
        )
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        results[name] = (process.returncode, stdout, stderr)
    return cases, results


@pytest.mark.parametrize(
    "case",
    [
        "train bad flag",
        "evaluate missing workdir",
        "export empty workdir",
        "sample missing saved_model",
    ],
)
def test_binary_prints_one_error_line(binary_results, case):
    cases, results = binary_results
    _, _, named, absent = cases[case]
    returncode, stdout, stderr = results[case]
    assert returncode == cli.EXIT_USER_ERROR, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, stderr[-2000:]
    message = stderr[stderr.index("error: ") :]
    for name in named:
        assert name in message, message
    for path in absent:
        assert not os.path.exists(path), path


def _failing_main(argv):
    del argv
    raise ConfigError("Config field 'kernel.num_leapfrog_steps' must be an integer >= 1.")


def test_cli_reports_user_errors_in_one_line(capsys, monkeypatch):
    monkeypatch.delenv(cli.VERBOSE_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.report_errors(_failing_main)(["prog"])
    assert exit_info.value.code == cli.EXIT_USER_ERROR
    stderr = capsys.readouterr().err
    assert stderr == "error: Config field 'kernel.num_leapfrog_steps' must be an integer >= 1.\n"


def test_cli_verbose_errors_reraise(monkeypatch):
    monkeypatch.setenv(cli.VERBOSE_ENV, "1")
    with pytest.raises(ConfigError, match="kernel.num_leapfrog_steps"):
        cli.report_errors(_failing_main)(["prog"])


def test_cli_leaves_bugs_alone(monkeypatch):
    monkeypatch.delenv(cli.VERBOSE_ENV, raising=False)

    def buggy(argv):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        cli.report_errors(buggy)(["prog"])
