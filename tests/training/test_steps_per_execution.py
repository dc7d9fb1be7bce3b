"""`train.steps_per_execution`: several compiled steps per `fit` call, same training."""

import json
import os

import numpy as np
import pytest

from configs import smoke
from tf_smvae.training import builders
from tf_smvae.training import train_lib
from tf_smvae.util.errors import ConfigError


def _config(requested, every, steps_per_epoch=None):
    config = smoke.get_config()  # 200 examples, batch 50: 4 steps per epoch
    config.train.steps_per_execution = requested
    config.train.checkpoint_every_steps = every
    config.train.steps_per_epoch = steps_per_epoch
    return config


@pytest.mark.parametrize(
    "requested, every, steps_per_epoch, expected",
    [
        (20, 0, None, 4),  # the 4 batches of an epoch
        (20, 3, None, 1),  # gcd with the checkpoint interval
        (20, 6, 12, 2),
        (4, 0, 6, 2),  # gcd with the epoch length
        (1, 0, None, 1),
    ],
)
def test_a_divisor_of_the_epoch_and_the_checkpoint_interval(
    requested, every, steps_per_epoch, expected
):
    config = _config(requested, every, steps_per_epoch)
    assert builders._steps_per_execution(config) == expected


@pytest.mark.parametrize("bad", [0, -2])  # the config itself refuses non-ints
def test_bad_values_are_named(bad):
    config = _config(1, 0)
    with config.unlocked():
        config.train.steps_per_execution = bad
    with pytest.raises(ConfigError, match="train.steps_per_execution"):
        builders._steps_per_execution(config)


def _run(tmp_path, name, requested, kernel=None):
    config = _config(requested, every=2)  # 4 steps per epoch -> 2 per execution
    config.train.keep_checkpoints = 10
    if kernel:
        config.kernel.name = kernel
        config.kernel.num_steps = 2
        config.kernel.mcmc_start_epoch = 1
    workdir = str(tmp_path / name)
    model = train_lib.run(config, workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as stream:
        records = [json.loads(line) for line in stream]
    saved = sorted(
        int(f[len("ckpt-") : -len(".index")])
        for f in os.listdir(os.path.join(workdir, "checkpoints"))
        if f.startswith("ckpt-") and f.endswith(".index")
    )
    return model, records, saved


def test_training_matches_one_step_per_execution(tmp_path):
    # Same batches, seeds and steps: the weights agree with the one-step run and every
    # checkpoint step is hit.
    one, one_records, _ = _run(tmp_path, "one", 1)
    many, records, saved = _run(tmp_path, "many", 20)
    assert many.steps_per_execution == 2 and one.steps_per_execution == 1
    assert int(many.optimizer.iterations.numpy()) == 8
    assert saved == [2, 4, 6, 8]
    assert [r["epoch"] for r in records] == [1, 2]
    np.testing.assert_allclose(records[1]["loss"], one_records[1]["loss"], rtol=1e-5)
    for a, b in zip(many.get_weights(), one.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mcmc_phase_starts_at_its_epoch(tmp_path):
    model, records, saved = _run(tmp_path, "mala", 20, kernel="mala")
    assert model.steps_per_execution == 2
    assert saved == [2, 4, 6, 8]
    assert records[0]["acceptance"] == "nan"  # a column from the first epoch on
    assert 0.0 < records[1]["acceptance"] <= 1.0
