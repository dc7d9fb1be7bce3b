"""bin/reproduce.py --table=table{1,2,6} end to end (--quick, a Fashion-MNIST subset, one
seed, two rows).

Without XLA (`--nojit_compile`): the compiled paths are tested in tests/model. Each binary
runs once through its real entry point; the rerun that must train nothing goes through
`runner.run_table` in this process with the same settings (saves a TF start-up).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from configs import tables
from tests import golden
from tf_smvae.experiments.tables import paper as paper_tables
from tf_smvae.experiments.tables import runner
from tf_smvae.util.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PNG = b"\x89PNG\r\n\x1a\n"


def _run(table, workdir, rows, *extra):
    command = [
        sys.executable,
        os.path.join(ROOT, "bin", "reproduce.py"),
        f"--table={table}",
        f"--workdir={workdir}",
        "--quick",
        "--datasets=fashion_mnist",
        f"--rows={','.join(rows)}",
        "--seeds=0",
        "--nojit_compile",
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _check_outputs(table, workdir, rows, metric, paper, out):
    """results.json shape, the paper's value beside ours, per-run files, one line per run."""
    with open(os.path.join(workdir, "results.json")) as stream:
        results = json.load(stream)
    assert list(results) == ["fashion_mnist"] and list(results["fashion_mnist"]) == rows
    for row in rows:
        entry = results["fashion_mnist"][row][metric]
        assert set(entry) == {"mean", "std", "seeds"}
        assert np.isfinite(entry["mean"]) and entry["std"] == 0.0 and entry["seeds"] == 1
        ours = f"{entry['mean']:.{2 if metric == 'log_likelihood' else 4}f} (1 seed)"
        line = f"| {row} | {ours}"
        with open(os.path.join(workdir, f"{table}.md")) as stream:
            text = stream.read()
        assert line in text and f"| {paper[row]['fashion_mnist']} |" in text
        run_dir = runner.run_directory(workdir, "fashion_mnist", row, 0)
        for name in ("samples.png", "training_curves.png"):
            with open(os.path.join(run_dir, name), "rb") as stream:
                assert stream.read(8) == PNG
        assert f"fashion_mnist {row} seed 0: {metric} " in out and "[trained]" in out
        metrics = golden.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
        golden.check(f"{table}_quick_{row}", metrics)
    if metric == "log_likelihood":
        golden.check(f"{table}_quick_results", results)
    return results


def _rerun(table, workdir, rows, **settings):
    """Reruns in-process; returns (results, status lines); asserts nothing was retrained."""
    metrics = [
        os.path.join(runner.run_directory(workdir, "fashion_mnist", row, 0), "metrics.jsonl")
        for row in rows
    ]
    before = [os.path.getsize(path) for path in metrics]
    lines = []
    settings = runner.Settings(seeds=(0,), quick=True, jit_compile=False, **settings)
    results = runner.run_table(
        table,
        workdir,
        tables.row_config(table),
        settings,
        datasets=["fashion_mnist"],
        rows=rows,
        log=lines.append,
    )
    assert [os.path.getsize(path) for path in metrics] == before  # no epoch trained
    return results, lines


def test_table1_quick_reports_log_likelihood_beside_the_paper(tmp_path):
    workdir, rows = str(tmp_path), ["VAE", "VAE-gradMALA"]
    out = _run("table1", workdir, rows)
    results = _check_outputs("table1", workdir, rows, "log_likelihood", paper_tables.TABLE1, out)
    assert "bits_per_dim" not in results["fashion_mnist"]["VAE"]  # bpd only for SVHN
    # The defensive-mixture figure, in results.json and in a column of its own.
    for row in rows:
        defensive = results["fashion_mnist"][row]["log_likelihood_defensive"]
        assert np.isfinite(defensive["mean"]) and defensive["seeds"] == 1
        assert defensive["mean"] != results["fashion_mnist"][row]["log_likelihood"]["mean"]
    with open(os.path.join(workdir, "table1.md")) as stream:
        assert "| paper | Fashion-MNIST defensive IS (ours) |" in stream.read()
    again, lines = _rerun("table1", workdir, rows)
    assert again == results and all(line.endswith("[stored]") for line in lines)
    # Other evaluation settings: evaluated again from the checkpoint, not retrained.
    _, lines = _rerun("table1", workdir, ["VAE"], num_samples=12)
    assert lines[0].endswith("[re-evaluated]")
    record = os.path.join(runner.run_directory(workdir, "fashion_mnist", "VAE", 0))
    with open(os.path.join(record, "result.json")) as stream:
        assert json.load(stream)["eval"]["num_samples"] == 12
    # Other training settings in the same workdir: refused, naming the file.
    with pytest.raises(ConfigError, match="dataset.data_dir: None -> '/elsewhere'"):
        _rerun("table1", workdir, ["VAE"], data_dir="/elsewhere")
    # Tables from the finished runs only: seed 1 is missing and nothing is trained.
    lines = []
    settings = runner.Settings(seeds=(0, 1), quick=True, jit_compile=False, num_samples=12)
    partial = runner.run_table(
        "table1",
        workdir,
        tables.row_config("table1"),
        settings,
        datasets=["fashion_mnist"],
        rows=["VAE"],
        log=lines.append,
        train_missing=False,
    )
    assert lines[1] == "[table1] fashion_mnist VAE seed 1: not finished, left out"
    assert partial["fashion_mnist"]["VAE"]["log_likelihood"]["seeds"] == 1
    assert not os.path.exists(runner.run_directory(workdir, "fashion_mnist", "VAE", 1))


def _feature_model(tmp_path):
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(8, name="features")]
    )
    path = str(tmp_path / "features.keras")
    model.save(path)
    return path


@pytest.mark.parametrize(
    "table, rows, paper",
    [
        ("table2", ["VAE", "VAE-gradHMC"], paper_tables.TABLE2),
        ("table6", ["HVAE", "gradMALA-D"], paper_tables.TABLE6),
    ],
)
def test_kid_tables_quick_report_kid_beside_the_paper(tmp_path, table, rows, paper):
    workdir, extractor = str(tmp_path / "work"), _feature_model(tmp_path)
    out = _run(table, workdir, rows, f"--feature_extractor={extractor}")
    results = _check_outputs(table, workdir, rows, "kid", paper, out)
    again, lines = _rerun(table, workdir, rows, feature_extractor=extractor)
    assert again == results and all(line.endswith("[stored]") for line in lines)


@pytest.mark.parametrize(
    "settings, flag",
    [
        (dict(), "--feature_extractor"),
        (dict(feature_extractor="missing.keras"), "--feature_extractor"),
        (dict(feature_extractor="inception"), "--inception_weights"),
    ],
)
def test_kid_tables_check_their_flags_before_any_training(tmp_path, settings, flag):
    with pytest.raises(ConfigError, match=flag):
        runner.run_table(
            "table2", str(tmp_path), tables.row_config("table2"), runner.Settings(**settings)
        )
    assert os.listdir(tmp_path) == []


def test_unknown_rows_and_datasets_name_the_flag(tmp_path):
    with pytest.raises(ConfigError, match="--rows"):
        runner.run_table("table6", str(tmp_path), tables.row_config("table6"), rows=["VAE-MoG"])
    with pytest.raises(ConfigError, match="--datasets"):
        runner.run_table("table1", str(tmp_path), tables.row_config("table1"), datasets=["cifar10"])


def test_epochs_scale_multiplies_both_phases_keeping_one_epoch_each():
    settings = runner.Settings(epochs_scale=0.01)
    config = runner.make_config(
        tables.row_config("table1"), "fashion_mnist", "VAE-gradHMC", 2, settings
    )
    assert (config.kernel.mcmc_start_epoch, config.train.epochs) == (3, 4)  # 290 + 10 -> 3 + 1
    assert config.seed == 2 and config.train.learning_rate == 5e-4
    config = runner.make_config(
        tables.row_config("table6"), "fashion_mnist", "gradHMC-LT", 0, runner.Settings()
    )
    assert config.dataset.name == "fashion_mnist" and config.model.name == "hvae"
    assert tuple(config.model.latent_dims) == (5, 10) and config.kernel.preconditioner == "tril"
    assert (config.kernel.mcmc_start_epoch, config.train.epochs) == (190, 200)


def test_table_aggregates_seeds_and_marks_diverged_runs():
    runs = [
        {"seed": 0, "log_likelihood": -116.0, "bits_per_dim": 7.2},
        {"seed": 1, "log_likelihood": -118.0, "bits_per_dim": 7.3},
        {"seed": 2, "log_likelihood": None, "diverged": True},
    ]
    records = {"svhn": {"VAE": runs}, "mnist": {"VAE": runs[:2]}}
    results = paper_tables.aggregate(records, "log_likelihood")
    assert results["mnist"]["VAE"] == {
        "log_likelihood": {"mean": -117.0, "std": 2**0.5, "seeds": 2}
    }
    assert results["svhn"]["VAE"]["bits_per_dim"]["mean"] == pytest.approx(7.25)
    assert results["svhn"]["VAE"]["diverged_seeds"] == [2]
    text = runner.format_table(runner.TABLES["table1"], results, runner.Settings())
    assert "| model | MNIST (ours) | paper | SVHN (bpd) (ours) | paper |" in text
    assert "| VAE | -117.00 (1.41) | -81.16 (0.2) | 7.250 (0.071) [diverged: seed 2] |" in text


@pytest.mark.parametrize("table", list(runner.TABLES))
def test_every_row_of_every_table_makes_a_valid_config(table):
    from tf_smvae.training import validation

    spec = runner.TABLES[table]
    for dataset in spec.datasets:
        for row in spec.rows:
            config = runner.make_config(
                tables.row_config(table), dataset, row, 0, runner.Settings()
            )
            validation.validate_config(config)
    if table == "table1":
        config = runner.make_config(
            tables.row_config(table), "fashion_mnist", "VAE-gradHMC", 0, runner.Settings()
        )
        # The measured departure from the paper's rule (configs/table1_rows.py).
        assert config.kernel.adaptation == "speed_measure_dual_averaging"


def _fail(binary, *args):
    command = [sys.executable, os.path.join(ROOT, "bin", binary), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    return result.stderr


def test_a_flag_of_another_kind_of_table_is_one_clear_error(tmp_path):
    err = _fail("reproduce.py", "--table=table1", f"--workdir={tmp_path}", "--kid_subsets=5")
    assert "error: --kid_subsets applies to the kid tables, not to table1." in err
    err = _fail("reproduce.py", "--table=table6", f"--workdir={tmp_path}", "--tau=2")
    assert "error: --tau applies to the log_likelihood tables, not to table6." in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("table", ["table1", "table2", "table6"])
def test_the_old_binaries_still_run_with_a_deprecation_line(tmp_path, table):
    err = _fail(f"reproduce_{table}.py", f"--workdir={tmp_path}", "--rows=bogus")
    assert f"bin/reproduce_{table}.py is deprecated; use bin/reproduce.py --table={table}" in err
    assert "error: Unknown --rows ['bogus']" in err
