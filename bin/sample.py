r"""Draws samples from an exported SavedModel and writes them as a PNG grid.

    python bin/sample.py --saved_model=runs/demo/export --num=64 --out=grid.png

Only TensorFlow is needed to use the SavedModel; this binary uses tf_smvae for the grid.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)
import tensorflow as tf
from absl import app
from absl import flags

from tf_smvae.util import images

flags.DEFINE_string("saved_model", None, "SavedModel directory.", required=True)
flags.DEFINE_integer("num", 64, "Number of samples.")
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.DEFINE_string("out", "samples.png", "Output PNG.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        loaded = tf.saved_model.load(flags.FLAGS.saved_model)
    except (OSError, tf.errors.OpError) as error:
        raise app.UsageError(
            f"Cannot load --saved_model={flags.FLAGS.saved_model!r}: {error}"
        ) from None
    samples = loaded.sample(tf.constant(flags.FLAGS.num), tf.constant([0, flags.FLAGS.seed]))
    path = images.write_png(flags.FLAGS.out, images.image_grid(samples.numpy()))
    print(f"Wrote {flags.FLAGS.num} samples to {path}")


if __name__ == "__main__":
    app.run(main)
