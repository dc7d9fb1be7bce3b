"""`.keras` files written by an earlier tf_smvae still load and compute what they did.

The files under tests/golden/legacy_models/ were saved (with their outputs recorded in
tests/golden/legacy_<case>.json) before MCMC became a component the models take (issue 16),
so a change to a model's constructor, its `get_config` or a registered class name that
breaks old files fails here. `TF_SMVAE_WRITE_GOLDEN=1` rewrites the files and the
outputs: do that only on purpose, never to make this test pass.
"""

import os

import keras
import numpy as np
import pytest

from configs import smoke
from tests import golden
from tf_smvae.training import builders
from tf_smvae.training import validation

FOLDER = os.path.join(os.path.dirname(golden.__file__), "legacy_models")

CASES = {
    "vae": {},
    "vae_hmc_diag": {
        "kernel": dict(name="hmc", num_steps=2, num_leapfrog_steps=2, preconditioner="diag")
    },
    "vae_mala_amortised": {"kernel": dict(name="mala", num_steps=2, preconditioner="amortised")},
    "hvae_hmc_tril": {
        "model": dict(name="hvae", latent_dims=(2, 3)),
        "kernel": dict(name="hmc", num_steps=2, num_leapfrog_steps=3, preconditioner="tril"),
    },
}


def _config(case):
    config = smoke.get_config()
    config.model.hidden_units = (8,)
    for section, fields in CASES[case].items():
        for name, value in fields.items():
            config[section][name] = value
    validation.validate_config(config)
    return config


def _images():
    return (np.random.default_rng(5).random((3, 28, 28, 1)) > 0.5).astype(np.float32)


def _outputs(model, x):
    outputs = {
        "encode": np.asarray(model.encode(x)[0]).tolist(),
        "reconstruct": np.asarray(model.reconstruct(x)).tolist(),
        "sample": np.asarray(model.sample(2, seed=[0, 9])).mean(axis=(1, 2, 3)).tolist(),
    }
    if getattr(model, "refinement", None) is not None:
        outputs["refine"] = np.asarray(model.refine(x, 2, seed=[0, 4])).tolist()
    return outputs


def _write(case, path):
    keras.utils.set_random_seed(3)
    model = builders.build_model(_config(case), (28, 28, 1))
    model.save(path)
    golden.check(f"legacy_{case}", _outputs(model, _images()))


@pytest.mark.parametrize("case", list(CASES))
def test_a_file_saved_by_an_earlier_version_loads_and_computes_the_same(case):
    path = os.path.join(FOLDER, f"{case}.keras")
    if os.environ.get("TF_SMVAE_WRITE_GOLDEN") == "1":
        _write(case, path)
    model = keras.saving.load_model(path)
    assert type(model).__name__ == type(builders.build_model(_config(case), (28, 28, 1))).__name__
    golden.check(f"legacy_{case}", _outputs(model, _images()))
