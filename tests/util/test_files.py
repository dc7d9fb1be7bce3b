"""util.files: config diffs used to refuse resuming a run with other settings, and the
throw-away folders of non-chief workers."""

import os

import pytest

from tf_smvae.util import files


def test_changed_fields_finds_changed_removed_and_added_keys():
    old = {"train": {"epochs": 10, "lr": 1e-3}, "seed": 0}
    new = {"train": {"epochs": 10, "lr": 2e-3, "strategy": "default"}}
    assert files.changed_fields(old, new) == ["seed", "train.lr", "train.strategy"]
    assert files.changed_fields(old, new, ignore=("train.lr",)) == ["seed", "train.strategy"]


def test_added_keys_can_be_ignored_for_runs_stored_by_an_older_version():
    old = {"train": {"epochs": 10}, "seed": 0}
    new = {"train": {"epochs": 10, "strategy": "default", "steps_per_execution": 20}, "seed": 0}
    assert files.changed_fields(old, new, ignore_added=True) == []
    # A removed or changed key still counts.
    assert files.changed_fields(old, {"train": {"epochs": 11}}, ignore_added=True) == [
        "seed",
        "train.epochs",
    ]
    assert "train.epochs: 10 -> 11" in files.describe_changes(
        old, {"train": {"epochs": 11}}, ["train.epochs"]
    )


def test_discarded_directory_is_gone_afterwards_even_after_an_error(tmp_path):
    path = str(tmp_path / "workertemp_1")
    with files.discarded_directory(path) as folder:
        open(os.path.join(folder, "ckpt-4.index"), "w").close()
        assert os.path.exists(os.path.join(path, "ckpt-4.index"))
    assert not os.path.exists(path)
    with pytest.raises(RuntimeError):
        with files.discarded_directory(path):
            raise RuntimeError("save failed")
    assert not os.path.exists(path)
