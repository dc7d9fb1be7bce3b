"""bin/reproduce_linear.py end to end (--quick), and the tables it writes."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests import golden
from tf_smvae.data import linear_gaussian
from tf_smvae.experiments.linear import runner as reproduce_linear_lib
from tf_smvae.experiments.linear import tables as linear_tables

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(*args):
    command = [sys.executable, os.path.join(ROOT, "bin", "reproduce_linear.py"), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_quick_run_writes_both_tables_and_results(tmp_path):
    workdir = str(tmp_path)
    # Without XLA: the compiled paths are tested in tests/model; here every row and both
    # configurations run a few epochs through the real entry point.
    out = _run(f"--workdir={workdir}", "--quick", "--seeds=0", "--nojit_compile")
    assert "epoch" in out and "table4.md" in out  # progress lines, then the summary
    with open(os.path.join(workdir, "results.json")) as stream:
        results = json.load(stream)
    assert list(results) == ["10,20", "50,100"]
    for config in results.values():
        assert list(config) == list(reproduce_linear_lib.ROWS)
        for row, metrics in config.items():
            for name in ("delta_log_px", "kappa_posterior"):
                assert np.isfinite(metrics[name]["mean"]) and metrics[name]["std"] == 0.0
            assert (metrics["kappa_transformed"] is None) == (row == "HVAE")
    golden.check("linear_quick_results", results)
    for name in ("table4.md", "table5.md"):
        with open(os.path.join(workdir, name)) as stream:
            text = stream.read()
        assert all(f"| {row} |" in text for row in reproduce_linear_lib.ROWS)
        assert "(50,100)" in text
    with open(os.path.join(workdir, "table5.md")) as stream:
        assert "1.66 (0.15)" in stream.read()  # the paper's gradHMC-LT (50,100) beside ours
    # A rerun trains nothing: every run is read back from workdir/runs.
    out = _run(f"--workdir={workdir}", "--quick", "--seeds=0", "--nojit_compile")
    assert "epoch " not in out
    # Tables of a study still running: seed 1 is missing, nothing is trained, and a cell
    # made from one seed says so instead of printing a std of 0.
    out = _run(f"--workdir={workdir}", "--quick", "--seeds=0,1", "--tables_only")
    assert "epoch " not in out and "(10,20) HVAE seed 1: not finished, left out" in out
    with open(os.path.join(workdir, "table5.md")) as stream:
        text = stream.read()
    assert "(1 seed)" in text and "(0.00)" not in text


def test_tables_report_mean_and_sample_std_over_seeds():
    record = dict(delta_log_px=1.0, kappa_posterior=10.0, kappa_transformed=2.0)
    runs = [dict(record, delta_log_px=value) for value in (1.0, 2.0, 3.0)]
    results = linear_tables.aggregate({"10,20": {"gradHMC-LT": runs}})
    entry = results["10,20"]["gradHMC-LT"]
    assert entry["delta_log_px"] == {"mean": 2.0, "std": 1.0, "num_seeds": 3}
    assert entry["kappa_transformed"]["mean"] == 2.0
    table = linear_tables.format_table5(results)
    assert "| gradHMC-LT | 2.00 (1.00) | 1.14 (1.53) |" in table
    table = linear_tables.format_table4(results)
    assert "| gradHMC-LT | 10.00 (0.00) | 25.57 (2.63) | 2.00 (0.00) | 1.68 (0.15) |" in table


def test_a_diverged_seed_is_reported_not_averaged():
    record = dict(delta_log_px=1.0, kappa_posterior=10.0, kappa_transformed=2.0, seed=0)
    diverged = dict(
        delta_log_px=None, kappa_posterior=None, kappa_transformed=None, seed=1, diverged=True
    )
    results = linear_tables.aggregate({"50,100": {"gradHMC-D": [record, diverged]}})
    entry = results["50,100"]["gradHMC-D"]
    assert entry["delta_log_px"] == {"mean": 1.0, "std": 0.0, "num_seeds": 1}
    assert entry["diverged_seeds"] == [1]
    assert "1.00 (1 seed) [diverged: seed 1]" in linear_tables.format_table5(results)
    assert "DIVERGED" in linear_tables.summary_line("x", dict(diverged, seconds=1.0))


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    # (10,20) quick: 4 + 4 epochs with max_steps_per_execution 2 -> 4 chunks of 2 steps, the
    # MCMC phase from chunk 2. The first attempt stops after chunk 3 (inside the MCMC
    # phase); the rerun resumes there and must end where an uninterrupted run ends.
    configuration = reproduce_linear_lib.QUICK_CONFIGURATIONS["10,20"]
    settings = reproduce_linear_lib.Settings(max_steps_per_execution=2, verbose=False)
    data = linear_gaussian.simulate(configuration.latent_dims, seed=0)

    def train(checkpoint_dir=None):
        return reproduce_linear_lib.train_row(
            configuration, "gradMALA-D", 0, data, settings, checkpoint_dir=checkpoint_dir
        )

    full_model, full = train()
    checkpoint_dir = str(tmp_path / "checkpoints")

    class StopAfterThreeChunks(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == 3:
                self.model.stop_training = True

    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks, "TerminateOnNaN", StopAfterThreeChunks)
        with pytest.raises(RuntimeError, match="rerun to resume"):
            train(checkpoint_dir)
    resumed_model, resumed = train(checkpoint_dir)
    assert resumed["resumed_at_epoch"] == 6
    assert int(resumed_model.optimizer.iterations.numpy()) == 8
    for name in linear_tables.METRICS:
        np.testing.assert_allclose(resumed[name], full[name], rtol=1e-5)
    for mine, theirs in zip(resumed_model.weights, full_model.weights):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
