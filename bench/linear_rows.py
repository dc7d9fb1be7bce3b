r"""Cost of one training step of each row of the linear study (Tables 4 and 5).

    python bench/linear_rows.py                                  # (50, 100), all rows
    python bench/linear_rows.py --rows=gradMALA-LT,gradHMC-LT --json

`bin/reproduce_linear.py` runs 5000 ELBO + 5000 MCMC full-batch steps per (50, 100) run
(1000 points, K = 10, HMC L = 3), so the MCMC step sets the study's wall time. For every
row this times the XLA-compiled MCMC-phase step the way the study runs it (Keras `fit`,
several steps per compiled call) and projects the hours of one seed.

The `tril` rows are timed twice in the same process: with a C shared by all chains applied
as one `[n, d] x [d, d]` matrix product and one triangular solve with n right-hand sides
(the library's path), and with C broadcast to `[n, d, d]` per chain (`tf.linalg.matvec`,
what the library did before); the ratio is the speed-up of the shared path. Run by hand,
not in CI, on a quiet machine (pause background jobs).
"""

import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from tf_smvae.data import linear_gaussian  # noqa: E402
from tf_smvae.experiments.linear import runner as study  # noqa: E402
from tf_smvae.mcmc import _scale  # noqa: E402

flags.DEFINE_string("configuration", "50,100", "A key of the study's CONFIGURATIONS.")
flags.DEFINE_list("rows", list(study.ROWS), "Rows to time.")
flags.DEFINE_integer("steps", 5, "Steps per compiled call (and per timed call).")
flags.DEFINE_integer("calls", 3, "Timed calls after the compiling one (mean kept).")
flags.DEFINE_bool("json", False, "End with one JSON line of the figures.")


def _step_seconds(configuration, row, data, steps, calls):
    """Mean seconds of one MCMC-phase training step (the plain HVAE: its ELBO step)."""
    mcmc_only = dataclasses.replace(configuration, pretrain_epochs=0)
    model = study.build_model(mcmc_only, row, 0, data.image_shape, study.Settings(), steps)
    dataset = tf.data.Dataset.from_tensors(data.x).repeat()
    fit = dict(steps_per_epoch=steps, verbose=0, shuffle=False)
    model.fit(dataset, epochs=1, **fit)  # compiles
    start = time.perf_counter()
    model.fit(dataset, epochs=calls, **fit)
    return (time.perf_counter() - start) / (calls * steps)


def _per_chain(scale_tril):
    """The pre-change dispatch: a [d, d] C broadcast per chain."""
    del scale_tril
    return False


def main(argv):
    del argv
    f = flags.FLAGS
    configuration = study.CONFIGURATIONS[f.configuration]
    data = linear_gaussian.simulate(configuration.latent_dims, seed=0)
    figures = {}
    print(f"({f.configuration}), {data.x.shape[0]} points, K = {configuration.num_steps}")
    print("| row | ms / step | MCMC phase h / seed | broadcast C ms / step | speed-up |")
    print("|---|---|---|---|---|")
    for row in f.rows:
        seconds = _step_seconds(configuration, row, data, f.steps, f.calls)
        entry = dict(ms_per_step=1e3 * seconds)
        entry["hours_per_seed"] = seconds * configuration.mcmc_epochs / 3600
        extra = "- | -"
        if row.endswith("-LT"):
            shared = _scale._shared
            _scale._shared = _per_chain
            try:
                broadcast = _step_seconds(configuration, row, data, f.steps, f.calls)
            finally:
                _scale._shared = shared
            entry.update(broadcast_ms_per_step=1e3 * broadcast, speedup=broadcast / seconds)
            extra = f"{1e3 * broadcast:.0f} | {broadcast / seconds:.2f}x"
        figures[row] = entry
        print(
            f"| {row} | {entry['ms_per_step']:.0f} | {entry['hours_per_seed']:.2f} | {extra} |",
            flush=True,
        )
    if f.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    app.run(main)
