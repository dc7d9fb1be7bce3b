r"""Draws samples from an exported SavedModel and writes them as a PNG grid.

    python bin/sample.py --saved_model=runs/demo/export --num=64 --out=grid.png

Only TensorFlow is needed to use the SavedModel; this binary uses tf_smvae for the grid.
"""

import os

import _paths  # noqa: F401  (sets sys.path; must come first)
import tensorflow as tf
from absl import app
from absl import flags

from tf_smvae.util import cli
from tf_smvae.util import images

flags.DEFINE_string("saved_model", None, "SavedModel directory.", required=True)
flags.DEFINE_integer("num", 64, "Number of samples.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.DEFINE_string("out", "samples.png", "Output PNG.")


def _load(path):
    """Loads the SavedModel at `path` (the --saved_model flag).

    Raises:
      FileNotFoundError: if `path` holds no SavedModel.
      ValueError: if it cannot be read, or has no `sample` endpoint.
    """
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(
            f"--saved_model={path!r} is not a SavedModel directory (no saved_model.pb); "
            "write one with bin/export.py --workdir=RUN."
        )
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, tf.errors.OpError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(f"Cannot load --saved_model={path!r}: {first_line}") from None
    if not hasattr(loaded, "sample"):
        raise ValueError(f"--saved_model={path!r} has no 'sample' endpoint.")
    return loaded


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    loaded = _load(flags.FLAGS.saved_model)
    samples = loaded.sample(tf.constant(flags.FLAGS.num), tf.constant([0, flags.FLAGS.seed]))
    path = images.write_png(flags.FLAGS.out, images.image_grid(samples.numpy()))
    print(f"Wrote {flags.FLAGS.num} samples to {path}")


if __name__ == "__main__":
    cli.run(main)
