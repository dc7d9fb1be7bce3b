"""`evaluate` and `export` on missing, empty or corrupt workdirs, and bad evaluation options.

See tests/hostile.py for what every hostile-input case asserts.
"""

import os

import pytest

from tests.hostile import _assert_named
from tests.hostile import _copy_run
from tf_smvae.training import evaluate_lib
from tf_smvae.training import train_lib
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

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
