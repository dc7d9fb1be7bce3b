"""The binaries: one `error:` line, exit status 2, no traceback, no outputs; `util.cli`.

See tests/hostile.py for what every hostile-input case asserts.
"""

import os
import subprocess
import sys

import pytest

from tests.hostile import ROOT
from tf_smvae.util import cli
from tf_smvae.util.errors import ConfigError

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
