"""bin/train.py under MultiWorkerMirroredStrategy (2 local workers) and MirroredStrategy
(2 logical CPU devices) logs the single-device run's values, validation included.

Two worker processes on localhost form the cluster through `TF_CONFIG` and share one
workdir, which only the chief writes (`training/distribute.py`); the multi-worker run
is stopped after its first epoch and resumed by rerunning the commands. The smoke config
runs 2 epochs with a validation pass after each: before 2026-11-22 the validation under
a strategy advanced the model's seed counter once more than on one device, so the
second epoch's training noise, and every value after it, differed from the
single-device run (KL 0.284 vs 0.270), and MultiWorkerMirroredStrategy failed at the
first step (tensorflow/tensorflow#72388, `replicas.for_keras_reduction`).
Tolerance: relative 1e-5 (float32 sums in another order differ by ~1e-7 here).
"""

import json
import os
import socket
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOLERANCE = 1e-5
_LOGGED = ("loss", "elbo", "kl", "reconstruction", "val_loss", "val_kl")


def _env(**extra):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, env.get("PYTHONPATH", "")])
    return env


def _train_command(workdir, *flags):
    return [
        sys.executable,
        "bin/train.py",
        "--config=configs/smoke.py",
        f"--workdir={workdir}",
        "--config.train.num_sample_images=0",
        *flags,
    ]


def _check(done):
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as stream:
        return [json.loads(line) for line in stream]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _assert_same_curve(reference, other):
    assert [r["step"] for r in reference] == [r["step"] for r in other] == [4, 8]
    for ref, rec in zip(reference, other):
        for name in _LOGGED:
            assert abs(rec[name] - ref[name]) <= TOLERANCE * abs(ref[name]), (name, ref, rec)


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("single") / "run")
    _check(
        subprocess.run(
            _train_command(workdir),
            cwd=_ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    return _metrics(workdir)


def test_mirrored_two_epochs_with_validation_match_one_device(single_device, tmp_path):
    workdir = str(tmp_path / "run")
    command = _train_command(workdir, "--strategy=mirrored", "--cpu_devices=2")
    _check(
        subprocess.run(command, cwd=_ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    )
    _assert_same_curve(single_device, _metrics(workdir))


def _run_workers(workdir, *flags):
    """Runs 2 local workers (one cluster) sharing `workdir`; fails on any worker's error."""
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(
            subprocess.Popen(
                _train_command(workdir, "--strategy=multi_worker", *flags),
                cwd=_ROOT,
                env=_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for process in workers:
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            raise
        assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
        outputs.append(stdout)
    return outputs


def test_two_local_workers_share_a_workdir_resume_and_match_one_device(single_device, tmp_path):
    workdir = str(tmp_path / "run")
    _run_workers(workdir, "--config.train.epochs=1")
    # Only the chief (worker 0) wrote: one line per epoch, one set of checkpoints, and
    # no worker scratch folder left behind.
    assert len(_metrics(workdir)) == 1
    assert not [name for name in os.listdir(workdir) if name.startswith("workertemp")]
    first_checkpoints = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
    assert "ckpt-4.index" in first_checkpoints, first_checkpoints
    # The same commands with one more epoch resume both workers from the chief's checkpoint.
    outputs = _run_workers(workdir)
    assert all("Resuming from" in output for output in outputs), outputs
    _assert_same_curve(single_device, _metrics(workdir))
    assert sorted(os.listdir(workdir)) == sorted(
        ["checkpoints", "config.json", "metrics.jsonl", "model.keras", "tensorboard"]
    )
