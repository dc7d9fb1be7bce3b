"""Test setup: CPU only, quiet TensorFlow logs, the TensorFlow Keras backend."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tf_smvae  # noqa: E402,F401
from configs import base  # noqa: E402
from tests.hostile import _SMALL  # noqa: E402
from tests.hostile import SHAPE  # noqa: E402
from tests.hostile import _config  # noqa: E402
from tf_smvae.training import evaluate_lib  # noqa: E402
from tf_smvae.training import train_lib  # noqa: E402

# -- the hostile-input suite's fixtures (helpers: tests/hostile.py) -----------------------


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def run_dir(files, tmp_path_factory):
    """A finished one-epoch run on good.npz, exported once (read-only for the tests)."""
    workdir = str(tmp_path_factory.mktemp("hostile_run") / "run")
    train_lib.run(_config(files), workdir, reference_config=base.get_config())
    evaluate_lib.export(workdir)
    return workdir


@pytest.fixture(scope="session")
def small_vae():
    model = tf_smvae.VAE(SHAPE, 2, network_kwargs=_SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    return model
