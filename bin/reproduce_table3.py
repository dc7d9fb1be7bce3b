r"""Reproduces Table 3 (augmentation with per-class VAEs) on a two-class image folder.

    python tools/make_imbalanced_folder.py --out=data/fmnist_shirt_vs_top
    python bin/reproduce_table3.py --data_dir=data/fmnist_shirt_vs_top --workdir=runs/table3 \
      --epochs_scale=0.05
    python bin/reproduce_table3.py --data_dir=... --workdir=/tmp/t3 --quick --seeds=0 \
      --rows=VAE --num_synthetic=10
    python bin/reproduce_table3.py --data_dir=data/fmnist_shirt_vs_top --workdir=runs/table3 \
      --feature_extractor=runs/extractor/extractor.keras   # adds the per-class KID columns

Writes table3.md, results.json (keys "<row>/N=<n>", "No augmentation", and with
--feature_extractor "<row>/KID/<class>") and sample grids;
finished runs are kept under the workdir and a rerun of the same command only trains what
is missing. The per-class VAEs come from configs/table3_augmentation.py.
"""

import _paths  # noqa: F401  (sets sys.path; must come first)
from absl import app
from absl import flags

from configs import base
from configs import table3_augmentation
from tf_smvae.experiments.augmentation import classifier as augment_classifier
from tf_smvae.experiments.augmentation import kid as augment_kid
from tf_smvae.experiments.augmentation import runner as augment_lib
from tf_smvae.training import train_lib

_DEFAULTS = augment_lib.DEFAULTS
flags.DEFINE_string("data_dir", None, "Two-class image_folder dataset.", required=True)
flags.DEFINE_string("workdir", None, "Output directory.", required=True)
flags.DEFINE_list(
    "num_synthetic", [str(n) for n in _DEFAULTS.num_synthetic], "Synthetic minority images N."
)
flags.DEFINE_list("rows", list(_DEFAULTS.rows), f"Subset of: {', '.join(augment_lib.ROWS)}.")
flags.DEFINE_list("seeds", [str(seed) for seed in _DEFAULTS.seeds], "Training seeds.")
flags.DEFINE_float(
    "epochs_scale", _DEFAULTS.epochs_scale, "Multiplies the VAE epochs (paper: 1900 + 100)."
)
flags.DEFINE_float(
    "validation_fraction",
    _DEFAULTS.validation_fraction,
    "Share of training images for early stopping.",
)
flags.DEFINE_integer("split_seed", _DEFAULTS.split_seed, "Seed of the train/validation split.")
flags.DEFINE_enum(
    "vae_classes", _DEFAULTS.vae_classes, ["all", "minority"], "Classes that get a VAE."
)
flags.DEFINE_integer("image_size", None, "Resize images to this size (default: as stored).")
flags.DEFINE_string("name", None, "Dataset name in results.json (default: the folder name).")
flags.DEFINE_integer(
    "classifier_epochs", _DEFAULTS.classifier.max_epochs, "Most classifier epochs (early stopping)."
)
flags.DEFINE_integer(
    "patience", _DEFAULTS.classifier.patience, "Early-stopping patience of the classifier."
)
flags.DEFINE_bool("jit_compile", _DEFAULTS.jit_compile, "XLA-compile the training steps.")
flags.DEFINE_bool("quick", False, "2 VAE epochs, 3 classifier epochs (smoke test).")
flags.DEFINE_string(
    "feature_extractor",
    None,
    "KID columns: a .keras classifier (bin/train_feature_extractor.py) or 'inception'.",
)
flags.DEFINE_string("inception_weights", None, "InceptionV3 notop weights (.h5) for 'inception'.")
flags.DEFINE_integer(
    "kid_num_samples", _DEFAULTS.kid.num_samples, "Prior samples per class VAE for KID."
)
flags.DEFINE_integer("kid_subsets", _DEFAULTS.kid.num_subsets, "KID subsets.")
flags.DEFINE_integer(
    "kid_subset_size", _DEFAULTS.kid.subset_size, "Images per KID subset (clamped)."
)


def _ints(values, flag):
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise app.UsageError(f"--{flag} must be comma-separated integers: {values}") from None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_lib.set_up_tensorflow()
    f = flags.FLAGS
    classifier = augment_classifier.ClassifierSettings(
        max_epochs=f.classifier_epochs, patience=f.patience, jit_compile=f.jit_compile
    )
    settings = augment_lib.Settings(
        num_synthetic=_ints(f.num_synthetic, "num_synthetic"),
        rows=tuple(f.rows),
        seeds=_ints(f.seeds, "seeds"),
        epochs_scale=f.epochs_scale,
        validation_fraction=f.validation_fraction,
        split_seed=f.split_seed,
        vae_classes=f.vae_classes,
        image_size=f.image_size,
        name=f.name,
        jit_compile=f.jit_compile,
        quick=f.quick,
        classifier=classifier,
        kid=augment_kid.KIDSettings(
            feature_extractor=f.feature_extractor,
            inception_weights=f.inception_weights,
            num_samples=f.kid_num_samples,
            num_subsets=f.kid_subsets,
            subset_size=f.kid_subset_size,
        ),
    )
    row_configs = {
        row: table3_augmentation.get_config(variant)
        for row, variant in table3_augmentation.ROWS.items()
    }
    augment_lib.run(f.data_dir, f.workdir, row_configs, settings, base.get_config())
    print(f"Wrote {f.workdir}/table3.md and results.json", flush=True)


if __name__ == "__main__":
    from tf_smvae.util import cli

    cli.run(main)
