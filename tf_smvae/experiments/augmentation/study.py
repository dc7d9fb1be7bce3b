"""The augmentation study's data: the two-class folder, its split and per-class files.

`load_study` reads a two-class `image_folder` dataset, splits its training images
(stratified, seeded) into the classifier's training and validation parts and records
the split; `write_class_data` writes one class's images for its VAE.
"""

import dataclasses
import json
import os

import numpy as np

from tf_smvae import data
from tf_smvae.evaluation import augmentation
from tf_smvae.experiments import reports
from tf_smvae.experiments.augmentation import classifier as augment_classifier
from tf_smvae.util import files
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

__all__ = ["Study", "load_study", "write_class_data", "write_or_check"]


def _class_names(data_dir, num_classes):
    """Class folder names in label order (the image_folder source's sorted union)."""
    roots = [data_dir]
    if os.path.isdir(os.path.join(data_dir, "train")):
        roots = [os.path.join(data_dir, s) for s in ("train", "validation", "test")]
    names = sorted(
        {
            name
            for root in roots
            if os.path.isdir(root)
            for name in os.listdir(root)
            if not name.startswith(".") and os.path.isdir(os.path.join(root, name))
        }
    )
    return names if len(names) == num_classes else [f"class{k}" for k in range(num_classes)]


@dataclasses.dataclass
class Study:
    """The data every run of the study shares."""

    name: str
    class_names: list
    positive: int  # label of the positive (minority) class
    train: tuple  # (uint8 images, int labels) the classifier trains on
    validation: tuple
    test: tuple

    def binary(self, labels):
        return (np.asarray(labels) == self.positive).astype(np.int64)


def load_study(data_dir, workdir, settings):
    """Reads the folder, checks it has two classes, splits it and records split.json."""
    x_train, y_train = data.load_arrays(
        "image_folder", "train", data_dir=data_dir, image_size=settings.image_size
    )
    x_test, y_test = data.load_arrays(
        "image_folder", "test", data_dir=data_dir, image_size=settings.image_size
    )
    classes, counts = np.unique(y_train, return_counts=True)
    if classes.size != 2 or set(np.unique(y_test)) != set(classes.tolist()):
        raise DataError(
            f"{data_dir}: the augmentation study needs exactly two classes in both the train "
            f"and test splits; train has labels {classes.tolist()}, test "
            f"{np.unique(y_test).tolist()}."
        )
    names = _class_names(data_dir, int(classes.max()) + 1)
    positive = augmentation.minority_label(y_train)
    train_index, val_index = augment_classifier.split_train_validation(
        y_train, settings.validation_fraction, settings.split_seed
    )
    record = dict(
        class_names=names,
        positive_class=names[positive],
        positive_label=positive,
        train_counts={names[c]: int(n) for c, n in zip(classes, counts)},
        source_train_size=int(y_train.size),
        source_test_size=int(y_test.size),
        validation_fraction=settings.validation_fraction,
        split_seed=settings.split_seed,
        train_indices=train_index.tolist(),
        validation_indices=val_index.tolist(),
    )
    write_or_check(os.path.join(workdir, "split.json"), record)
    name = settings.name or os.path.basename(os.path.normpath(data_dir))
    return Study(
        name,
        names,
        positive,
        (x_train[train_index], y_train[train_index]),
        (x_train[val_index], y_train[val_index]),
        (x_test, y_test),
    )


def write_or_check(path, record):
    """Writes `record`, or checks that the workdir's earlier record is the same."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as stream:
            previous = json.load(stream)
        changed = sorted({key.split(".")[0] for key in files.changed_fields(previous, record)})
        if changed:
            raise ConfigError(
                f"{path} records a study with other {', '.join(changed)}; finished runs would "
                "be mixed. Rerun with the same settings or use a new --workdir."
            )
        return
    reports.write_json(path, record)


def write_class_data(study, workdir, label):
    """Writes (once) class_data/<class>/{train,test}.npz; returns (folder, train size)."""
    name = study.class_names[label]
    folder = os.path.join(workdir, "class_data", name)
    x_train = study.train[0][study.train[1] == label]
    x_val = study.validation[0][study.validation[1] == label]
    for split, images in (("train", x_train), ("test", x_val)):
        path = os.path.join(folder, f"{split}.npz")
        if not os.path.exists(path):
            os.makedirs(folder, exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}.npz"
            np.savez(tmp, x=images)
            os.replace(tmp, path)
    return folder, len(x_train)
