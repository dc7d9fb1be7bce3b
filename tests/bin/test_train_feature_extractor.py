"""bin/train_feature_extractor.py end to end on a tiny labelled .npz dataset."""

import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _write_npz(folder, num_classes=3, size=8):
    """train.npz / test.npz of grey images whose class k lights up the k-th band."""
    for split, seed, num in (("train", 0, 240), ("test", 1, 60)):
        rng = np.random.default_rng(seed)
        labels = np.arange(num) % num_classes
        images = rng.integers(0, 60, size=(num, size, size))
        band = size // num_classes
        for k in range(num_classes):
            images[labels == k, k * band : (k + 1) * band] += 180
        np.savez(folder / f"{split}.npz", x=images.astype(np.uint8), y=labels)


def test_writes_extractor_and_json_with_the_test_accuracy(tmp_path):
    _write_npz(tmp_path)
    out = tmp_path / "extractor"
    command = [
        sys.executable,
        os.path.join(ROOT, "bin", "train_feature_extractor.py"),
        f"--out={out}",
        "--config.dataset.name=npz",
        f"--config.dataset.data_dir={tmp_path}",
        "--config.model.feature_dim=16",
        "--config.model.filters=(8,)",
        "--config.train.epochs=3",
        "--config.train.batch_size=32",
        "--config.train.learning_rate=0.01",
        "--config.train.validation_fraction=0.25",
        "--config.train.jit_compile=False",
        "--config.train.verbose=0",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Test accuracy" in result.stdout
    with open(out / "extractor.json") as stream:
        summary = json.load(stream)
    assert summary["dataset"] == "npz" and summary["feature_layer"] == "features"
    assert summary["image_shape"] == [8, 8, 1] and summary["num_classes"] == 3
    assert summary["test_accuracy"] > 0.9  # chance 1/3
    # The validation split is 25 % of TRAIN (240), the test split is all 60 test images.
    assert summary["num_validation_examples"] == 60 and summary["num_train_examples"] == 180
    assert summary["num_test_examples"] == 60
    assert "train_feature_extractor.py" in summary["command"]
    assert "--config.train.epochs=3" in summary["command"]

    from tf_smvae import evaluation

    extract = evaluation.load_extractor(str(out / "extractor.keras"))
    features = extract(np.zeros((3, 8, 8, 1), np.float32))
    assert features.shape == (3, 16) and features.dtype.kind == "f"
