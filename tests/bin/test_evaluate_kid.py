"""bin/evaluate.py --kid on a smoke run: KID merged into eval.json beside the other keys."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tf_smvae import data
from tf_smvae import evaluation
from tf_smvae.training import evaluate_lib
from tf_smvae.training import train_lib
from tf_smvae.util.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = os.path.join(ROOT, "configs", "smoke.py")


def _run(binary, *args):
    command = [sys.executable, os.path.join(ROOT, "bin", binary), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def _untrained_extractor(tmp_path):
    """A small (untrained) Fashion-MNIST classifier saved as a feature extractor."""
    model = evaluation.build_classifier((28, 28, 1), 10, feature_dim=8, filters=(4,), seed=0)
    path = str(tmp_path / "extractor.keras")
    model.save(path)
    return path


def test_kid_is_merged_into_eval_json(tmp_path):
    workdir = str(tmp_path / "run")
    _run("train.py", f"--config={SMOKE}", f"--workdir={workdir}", "--epochs=1")
    # The log-likelihood first (in-process), then KID alone through the binary.
    evaluate_lib.evaluate(workdir, num_samples=5, num_examples=20, defensive_tau=4.0)
    extractor = _untrained_extractor(tmp_path)
    out = _run(
        "evaluate.py",
        f"--workdir={workdir}",
        "--nolog_likelihood",
        "--kid",
        f"--feature_extractor={extractor}",
        "--kid_num_samples=60",
        "--kid_num_subsets=4",
        "--kid_subset_size=50",
    )
    assert "KID" in out and "eval.json" in out
    with open(os.path.join(workdir, "eval.json")) as stream:
        summary = json.load(stream)
    assert summary["num_samples"] == 5 and summary["num_examples"] == 20  # kept
    assert summary["defensive_tau"] == 4.0
    assert np.isfinite(summary["log_likelihood_nats"])
    assert summary["kid_num_fake"] == 60 and summary["kid_num_real"] == 10000
    assert summary["kid_subset_size"] == 50 and summary["kid_num_subsets"] == 4
    assert summary["kid_feature_extractor"] == os.path.abspath(extractor)

    # The binary computed sample_kid on the test split's grey levels with eval seed 0.
    _, model = train_lib.restore_model(workdir, (28, 28, 1))
    images, _ = data.load_arrays("fashion_mnist", "test")
    expected = evaluation.sample_kid(
        model,
        images,
        evaluation.load_extractor(extractor),
        num_samples=60,
        seed=0,
        num_subsets=4,
        subset_size=50,
    )
    np.testing.assert_allclose(summary["kid_mean"], expected["kid_mean"], rtol=1e-4)
    np.testing.assert_allclose(summary["kid_std"], expected["kid_std"], rtol=1e-3)

    # The other real-image scaling: the test split as the model saw it (statically binarised).
    config = train_lib.load_config(workdir)
    binarised = evaluate_lib.KID_REAL_IMAGES.get("likelihood")(config, 30)
    grey = evaluate_lib.KID_REAL_IMAGES.get("grey_levels")(config, 30)
    assert set(np.unique(binarised)) == {0.0, 1.0} and len(np.unique(grey)) > 2
    np.testing.assert_array_equal(binarised, (grey > 0.5).astype(np.float32))

    with pytest.raises(ConfigError, match="--feature_extractor"):
        evaluate_lib.evaluate(workdir, log_likelihood=False, kid=True)
    with pytest.raises(ConfigError, match="Nothing to evaluate"):
        evaluate_lib.evaluate(workdir, log_likelihood=False)
