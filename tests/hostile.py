"""Shared pieces of the hostile-input suite (DESIGN section 10, issue 6 item 3).

Every public entry point given bad input raises ONE error of a stated type whose message
names the bad field, flag, argument or file, leaves no partial output behind, and never
returns a silent NaN. The cases live beside the package they test
(`tests/<package>/test_hostile_*.py`); this module holds their helpers, and
tests/conftest.py their fixtures (`files`, `run_dir`, `small_vae`).
"""

import os

import numpy as np

from configs import smoke

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (28, 28, 1)
_SMALL = {"hidden_units": (8,)}


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


def _binary(num=8, shape=SHAPE):
    return (np.random.default_rng(1).random((num, *shape)) > 0.5).astype(np.float32)


def _with(x, index, value):
    x = x.copy()
    x[index] = value
    return x
