"""The binaries end to end through their command lines, as a user runs them."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from tests import golden

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = os.path.join(ROOT, "configs", "smoke.py")


def _run(binary, *args, timeout=300):
    command = [sys.executable, os.path.join(ROOT, "bin", binary), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


_SAVED_MODEL_CLIENT = """
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
out = {
    "sample": loaded.sample(tf.constant(3), tf.constant([0, 7])).numpy().tolist(),
    "loc": loaded.encode(x)["loc"].numpy().tolist(),
    "decode": loaded.decode(tf.zeros([2, 4])).numpy().tolist(),
    "reconstruct": loaded.reconstruct(x).numpy().tolist(),
    "log_likelihood": loaded.log_likelihood(x, tf.constant(64), tf.constant([0, 1]))[
        "log_likelihood"].numpy().tolist(),
    "imported_tf_smvae": any(m.startswith("tf_smvae") for m in sys.modules),
}
print(json.dumps(out))
"""


def test_train_evaluate_export_sample(tmp_path):
    workdir = str(tmp_path / "run")
    out = _run("train.py", f"--config={SMOKE}", f"--workdir={workdir}")
    assert "Training outputs in" in out
    out = _run("evaluate.py", f"--workdir={workdir}", "--num_samples=20")
    with open(os.path.join(workdir, "eval.json")) as stream:
        summary = json.load(stream)
    assert summary["num_samples"] == 20 and summary["num_examples"] == 100
    assert summary["log_likelihood_nats"] < 0 and summary["bits_per_dim"] > 0
    assert "eval.json" in out
    # Fixed seeds: the same numbers as when recorded (a refactor must not move them).
    metrics = golden.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    golden.check("train_smoke", {"metrics": metrics, "eval": summary})
    out = _run("export.py", f"--workdir={workdir}")
    export = os.path.join(workdir, "export")
    assert os.path.exists(os.path.join(export, "saved_model.pb"))
    grid = str(tmp_path / "grid.png")
    _run("sample.py", f"--saved_model={export}", "--num=9", f"--out={grid}")
    assert open(grid, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    # The SavedModel works without tf_smvae and matches the Keras model.
    x = (np.random.default_rng(0).random((2, 28, 28, 1)) > 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    client = subprocess.run(
        [sys.executable, "-c", _SAVED_MODEL_CLIENT, export, str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert client.returncode == 0, client.stderr[-3000:]
    served = json.loads(client.stdout.strip().splitlines()[-1])
    assert not served["imported_tf_smvae"]

    from tf_smvae.training import train_lib

    _, model = train_lib.restore_model(workdir)
    np.testing.assert_allclose(served["loc"], model.encode(x)[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(served["reconstruct"], model.reconstruct(x), atol=1e-5)
    np.testing.assert_allclose(served["decode"], model.decode(np.zeros([2, 4])), atol=1e-5)
    np.testing.assert_allclose(served["sample"], model.sample(3, seed=[0, 7]), atol=1e-5)
    from tf_smvae import evaluation

    expected = evaluation.batch_log_likelihood(model, x, 64, 1.5, 100, np.array([0, 1]))[0]
    np.testing.assert_allclose(served["log_likelihood"], expected, rtol=1e-4)


def test_short_flags_override_the_config(tmp_path):
    workdir = str(tmp_path)
    _run(
        "train.py",
        f"--config={SMOKE}",
        f"--workdir={workdir}",
        "--epochs=1",
        "--batch_size=20",
        "--latent_dim=3",
        "--learning_rate=0.01",
        "--prior=mog",
        "--steps_per_epoch=2",
        "--seed=5",
        "--config.model.prior_num_components=2",
    )
    with open(os.path.join(workdir, "config.json")) as stream:
        config = json.load(stream)
    assert config["train"]["batch_size"] == 20 and config["model"]["latent_dim"] == 3
    assert config["model"]["prior"] == "mog" and config["model"]["prior_num_components"] == 2
    assert config["train"]["learning_rate"] == 0.01 and config["seed"] == 5
    with open(os.path.join(workdir, "metrics.jsonl")) as stream:
        assert json.loads(stream.readline())["step"] == 2


def test_bad_flag_gives_one_clear_error(tmp_path):
    command = [
        sys.executable,
        os.path.join(ROOT, "bin", "train.py"),
        f"--config={SMOKE}",
        f"--workdir={tmp_path}",
        "--prior=laplace",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "model.prior" in result.stderr and "standard_normal" in result.stderr


def test_sigkill_mid_epoch_then_rerun_resumes(tmp_path):
    # 1000 examples / batch 50 = 20 steps per epoch, a checkpoint every 4 steps.
    workdir = str(tmp_path)
    command = [
        sys.executable,
        os.path.join(ROOT, "bin", "train.py"),
        f"--config={SMOKE}",
        f"--workdir={workdir}",
        "--config.dataset.num_train_examples=1000",
        "--config.train.checkpoint_every_steps=4",
        "--epochs=2",
        "--config.train.num_sample_images=0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = os.path.join(workdir, "checkpoints", "checkpoint")
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(index) and "ckpt-" in open(index).read():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with open(index) as stream:
        killed_at = int(stream.readline().split("ckpt-")[1].split('"')[0])
    assert 0 < killed_at < 40, "the run must be killed before it finished"
    out = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"ckpt-{killed_at}" in out.stdout
    from tf_smvae.training import train_lib

    _, model = train_lib.restore_model(workdir)
    assert int(model.optimizer.iterations.numpy()) == 40


_REFINE_CLIENT = """
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
z = loaded.refine(x, tf.constant(3), tf.constant([0, 4]))
print(json.dumps({"refined": z.numpy().tolist()}))
"""


def test_mcmc_run_exports_a_refine_endpoint(tmp_path):
    workdir = str(tmp_path / "run")
    _run(
        "train.py",
        f"--config={SMOKE}",
        f"--workdir={workdir}",
        "--kernel=hmc",
        "--num_mcmc_steps=2",
        "--num_leapfrog_steps=2",
        "--preconditioner=tril",
        "--mcmc_start_epoch=1",
        "--kernel_learning_rate=0.01",
    )
    with open(os.path.join(workdir, "metrics.jsonl")) as stream:
        records = [json.loads(line) for line in stream]
    assert records[0]["acceptance"] == "nan" and 0.0 < records[1]["acceptance"] <= 1.0
    golden.check("train_smoke_hmc_tril", records)
    out = _run("export.py", f"--workdir={workdir}")
    assert "refine" in out
    x = (np.random.default_rng(1).random((3, 28, 28, 1)) > 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    client = subprocess.run(
        [
            sys.executable,
            "-c",
            _REFINE_CLIENT,
            os.path.join(workdir, "export"),
            str(tmp_path / "x.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert client.returncode == 0, client.stderr[-3000:]
    refined = np.asarray(json.loads(client.stdout.strip().splitlines()[-1])["refined"])
    from tf_smvae.training import train_lib

    _, model = train_lib.restore_model(workdir)
    np.testing.assert_allclose(refined, model.refine(x, 3, seed=[0, 4]), rtol=1e-4, atol=1e-4)
