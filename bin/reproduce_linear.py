r"""Reproduces Tables 4 and 5 (linear hierarchical VAEs) into --workdir.

    python bin/reproduce_linear.py --workdir=runs/linear
    python bin/reproduce_linear.py --workdir=/tmp/linear --quick

Writes table4.md, table5.md and results.json; finished runs are kept under runs/ and a
rerun of the same command only trains what is missing.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags

from tf_smvae.experiments import common
from tf_smvae.experiments.linear import runner as reproduce_linear_lib
from tf_smvae.training import train_lib

_DEFAULTS = reproduce_linear_lib.DEFAULTS
flags.DEFINE_string("workdir", None, "Output directory.", required=True)
flags.DEFINE_list("configurations", None, "Subset of: 10_20, 50_100 (default: both).")
flags.DEFINE_list("rows", None, f"Subset of: {', '.join(reproduce_linear_lib.ROWS)}.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
flags.DEFINE_integer("num_leapfrog_steps", _DEFAULTS.num_leapfrog_steps, "L of the HMC rows.")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Adam learning rate of the model.")
flags.DEFINE_float(
    "kernel_learning_rate",
    _DEFAULTS.kernel_learning_rate,
    "Adam learning rate of (h, C) (the paper: 1e-3, see BUILD_NOTES).",
)
flags.DEFINE_integer("data_seed", _DEFAULTS.data_seed, "Seed of the simulated data.")
flags.DEFINE_bool("jit_compile", _DEFAULTS.jit_compile, "XLA-compile the training step.")
flags.DEFINE_bool("quick", False, "A few epochs per run (smoke test).")
flags.DEFINE_bool(
    "tables_only", False, "Write the tables from the finished runs only; train nothing."
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    f = flags.FLAGS
    settings = reproduce_linear_lib.Settings(
        num_leapfrog_steps=f.num_leapfrog_steps,
        learning_rate=f.learning_rate,
        kernel_learning_rate=f.kernel_learning_rate,
        data_seed=f.data_seed,
        jit_compile=f.jit_compile,
    )
    configurations = [c.replace("_", ",") for c in f.configurations] if f.configurations else None
    reproduce_linear_lib.run(
        f.workdir,
        configurations=configurations,
        rows=f.rows,
        seeds=common.parse_seeds(f.seeds),
        settings=settings,
        quick=f.quick,
        train_missing=not f.tables_only,
    )
    print(f"Wrote {f.workdir}/table4.md, table5.md and results.json", flush=True)


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
