r"""Writes a two-class 1:3 image folder from the local Fashion-MNIST IDX files.

    python tools/make_imbalanced_folder.py --out=data/fmnist_shirt_vs_top
    python bin/reproduce_table3.py --data_dir=data/fmnist_shirt_vs_top --workdir=runs/table3

Default: T-shirt/top (class 0, majority: 600 train, 300 test) against shirt (class 6,
minority: 200 train, 100 test), grey 28 x 28 PNGs under out/{train,test}/<class>/.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bin"))

import _paths  # noqa: E402,F401  (sets sys.path)
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from tf_smvae.experiments.augmentation import images as augment_images  # noqa: E402

flags.DEFINE_string("out", None, "Folder to create (absent or empty).", required=True)
flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist or mnist (local IDX files).")
flags.DEFINE_string("data_dir", None, "Folder of the IDX files (default: known locations).")
flags.DEFINE_integer("majority_class", 0, "Source label of the majority class.")
flags.DEFINE_integer("minority_class", 6, "Source label of the minority (positive) class.")
flags.DEFINE_integer("num_majority_train", 600, "Majority images in train/.")
flags.DEFINE_integer("num_majority_test", 300, "Majority images in test/.")
flags.DEFINE_integer("ratio", 3, "Majority images per minority image.")
flags.DEFINE_integer("seed", 0, "Seed of the draw.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    counts = augment_images.make_imbalanced_folder(
        f.out,
        majority_class=f.majority_class,
        minority_class=f.minority_class,
        num_majority_train=f.num_majority_train,
        num_majority_test=f.num_majority_test,
        ratio=f.ratio,
        seed=f.seed,
        dataset=f.dataset,
        data_dir=f.data_dir,
    )
    print(f"Wrote {f.out}: {counts}", flush=True)


if __name__ == "__main__":
    app.run(main)
