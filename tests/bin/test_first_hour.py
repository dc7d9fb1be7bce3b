"""What a newcomer meets first: flag errors, --help, start-up noise, the default workdir."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = os.path.join(ROOT, "configs", "smoke.py")
# Lines TensorFlow's native start-up prints (oneDNN, CPU features, CUDA probing).
_NOISE = ("oneDNN", "cuInit", "cudart_stub", "cuda drivers", "absl::InitializeLog", "I0000")


def _call(binary, *args, cwd=None, env=None):
    command = [sys.executable, os.path.join(ROOT, "bin", binary), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.mark.parametrize(
    "binary, args, names",
    [
        ("train.py", ["--bogus"], "bogus"),
        ("train.py", ["--epochs=many"], "epochs"),
        ("evaluate.py", ["--workdir"], "workdir"),
        ("export.py", ["--nothing=1"], "nothing"),
    ],
)
def test_flag_errors_are_one_error_line_with_status_2(binary, args, names):
    result = _call(binary, *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: "), result.stderr[-2000:]
    assert names in result.stderr.splitlines()[0]
    assert "Traceback" not in result.stderr and "FATAL" not in result.stderr


def test_start_up_noise_is_silenced_unless_verbose():
    result = _call("train.py", "--bogus")
    assert not [line for line in result.stderr.splitlines() if any(n in line for n in _NOISE)]
    assert result.stdout == ""


def test_help_lists_short_flags_with_their_choices_and_exits_0():
    result = _call("train.py", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    for flag in ("--workdir", "--config", "--dataset", "--kernel", "--preconditioner"):
        assert flag in text
    # Choices come from the registries.
    assert "svhn" in text and "fashion_mnist" in text and "mala" in text and "tril" in text
    assert "--config.<section>.<field>=<value>" in text and "--helpfull" in text
    assert "--xla_" not in text  # TensorFlow's flags only under --helpfull
    full = _call("train.py", "--helpfull")
    assert full.returncode == 0 and "--dataset" in full.stdout
    assert len(full.stdout.splitlines()) > len(text.splitlines())


def test_train_without_workdir_makes_and_prints_a_default_one(tmp_path):
    result = _call("train.py", f"--config={SMOKE}", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = os.listdir(tmp_path / "runs")
    assert run.startswith("fashion_mnist-none-")
    assert f"workdir: {os.path.join('runs', run)}" in result.stdout
    assert os.path.exists(tmp_path / "runs" / run / "metrics.jsonl")
    assert not [line for line in result.stderr.splitlines() if any(n in line for n in _NOISE)]


def test_design_card_command_offline_is_one_line_in_seconds(tmp_path):
    # `python bin/train.py --dataset=svhn --kernel=mala` with no SVHN here and no network.
    env = dict(os.environ, TF_SMVAE_NETWORK_PROBE="127.0.0.1:9")  # nothing listens there
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        env.pop(name, None)
    data_dir = tmp_path / "tfds"
    result = _call(
        "train.py",
        "--dataset=svhn",
        "--kernel=mala",
        f"--data_dir={data_dir}",
        cwd=str(tmp_path),
        env=env,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: Dataset 'svhn' must be downloaded")
    assert "tfds build svhn_cropped" in line and "--data_dir" in line
    assert not data_dir.exists() and not (tmp_path / "runs").exists()
