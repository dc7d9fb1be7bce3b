r"""Writes synthetic images sampled from a trained run's prior as PNG files.

    python bin/augment.py --workdir=runs/shirt_vae --num_images=500 \
      --out=data/augmented/train/shirt

Each image is the likelihood's mean image of one prior draw, quantised to uint8 (grey or
RGB as the training data), written as `<prefix>_<i>.png` into --out, so that --out can be
a class folder of an `image_folder` dataset. The same --seed gives the same images.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags

from tf_smvae import data
from tf_smvae.experiments.augmentation import images as augment_images
from tf_smvae.training import train_lib

flags.DEFINE_string("workdir", None, "A training run's directory (bin/train.py).", required=True)
flags.DEFINE_integer("num_images", None, "Number of images to write.", required=True)
flags.DEFINE_string("out", None, "Output folder (created).", required=True)
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.DEFINE_string("prefix", "synthetic", "File name prefix.")


def _image_shape(config):
    dataset = config.dataset
    return data.info(
        dataset.name, data_dir=dataset.data_dir, image_size=dataset.image_size
    ).image_shape


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    if f.num_images < 1:
        raise app.UsageError(f"--num_images must be >= 1, got {f.num_images}.")
    train_lib.set_up_tensorflow()
    try:
        config = train_lib.load_config(f.workdir)
        _, model = train_lib.restore_model(f.workdir, image_shape=_image_shape(config))
    except FileNotFoundError as error:
        raise app.UsageError(f"--workdir={f.workdir!r}: {error}") from None
    images = augment_images.sample_images(model, f.num_images, seed=f.seed)
    paths = augment_images.write_images(images, f.out, prefix=f.prefix)
    print(f"Wrote {len(paths)} images {images.shape[1:]} to {f.out}", flush=True)


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
