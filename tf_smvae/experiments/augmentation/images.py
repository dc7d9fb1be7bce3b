"""Synthetic and real image files of the augmentation study (paper Table 3).

Sampling a VAE's prior as uint8 grey levels like the real data, PNG files in and out, and
an offline two-class imbalanced image folder cut from (Fashion-)MNIST.
"""

import os

import numpy as np
import tensorflow as tf

from tf_smvae import data
from tf_smvae import evaluation
from tf_smvae.util import images as images_lib
from tf_smvae.util.errors import ConfigError

__all__ = [
    "CLASS_NAMES",
    "make_imbalanced_folder",
    "read_images",
    "sample_images",
    "to_uint8",
    "write_images",
]


def to_uint8(images):
    """Quantises images in [0, 1] to uint8 grey levels round(255 x), clipped.

    Raises:
      ValueError: if an image holds NaN or inf (a diverged model).
    """
    images = np.asarray(images, np.float32)
    if not np.all(np.isfinite(images)):
        raise ValueError("The images hold NaN or inf values; the model has diverged.")
    return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def sample_images(model, num_images, seed=0):
    """Samples images from a VAE's prior as uint8 grey levels, like the real data.

    Args:
      model: a trained `VAE` (or subclass) with `sample(num, seed)`.
      num_images: how many images (>= 1).
      seed: int or int32[2] seed (see `tf_smvae.evaluation.sample_images`).

    Returns:
      uint8 numpy array [num_images, H, W, C]: the likelihood's mean images, quantised.

    Raises:
      ValueError: for num_images < 1 or non-finite samples.
    """
    return to_uint8(evaluation.sample_images(model, num_images, seed))


def write_images(images, directory, prefix="synthetic"):
    """Writes uint8 images [N, H, W, C] as `directory/<prefix>_<i>.png` (grey or RGB).

    Returns:
      The list of written paths.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"write_images needs uint8 images [N, H, W, 1 or 3], got {images.dtype} {images.shape}."
        )
    os.makedirs(directory, exist_ok=True)
    return [
        images_lib.write_png(os.path.join(directory, f"{prefix}_{index:06d}.png"), image)
        for index, image in enumerate(images)
    ]


def read_images(directory, channels):
    """Reads the PNG files of `directory`, sorted by name, as uint8 [N, H, W, channels]."""
    names = sorted(n for n in os.listdir(directory) if n.endswith(".png"))
    if not names:
        return np.zeros((0,), np.uint8)
    return np.stack(
        [
            tf.io.decode_png(tf.io.read_file(os.path.join(directory, n)), channels).numpy()
            for n in names
        ]
    )


# -- an offline imbalanced folder ---------------------------------------------------------------

CLASS_NAMES = {
    "fashion_mnist": (
        "t_shirt_top",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle_boot",
    ),
    "mnist": tuple(str(digit) for digit in range(10)),
}


def make_imbalanced_folder(
    out_dir,
    majority_class=0,
    minority_class=6,
    num_majority_train=600,
    num_majority_test=300,
    ratio=3,
    seed=0,
    dataset="fashion_mnist",
    data_dir=None,
):
    """Writes a two-class image folder with a 1:ratio imbalance from (Fashion-)MNIST.

    Layout (what the `image_folder` source reads as its train and test splits):
    `out_dir/{train,test}/<class name>/<index in the source split>.png`, grey 28 x 28. Each
    split keeps `num_majority_*` majority images and `num_majority_* // ratio` minority
    images, drawn without replacement by a seeded generator from the same source split.

    Args:
      out_dir: the folder to create (must be absent or empty).
      majority_class: label of the majority class in the source (default 0, T-shirt/top).
      minority_class: label of the minority class (default 6, shirt: a hard pair).
      num_majority_train: majority images in the train split.
      num_majority_test: majority images in the test split.
      ratio: majority images per minority image.
      seed: int seed of the draw.
      dataset: "fashion_mnist" or "mnist" (IDX files via `tf_smvae.data`).
      data_dir: where the IDX files are (default: the known locations).

    Returns:
      {split: {class name: number of images}}.

    Raises:
      ConfigError: for equal or unknown classes, bad counts, or a non-empty out_dir.
    """
    names = CLASS_NAMES.get(dataset)
    if names is None:
        raise ConfigError(f"dataset must be one of {', '.join(CLASS_NAMES)}, got {dataset!r}.")
    classes = (majority_class, minority_class)
    if majority_class == minority_class or not all(0 <= c < len(names) for c in classes):
        raise ConfigError(
            f"majority_class and minority_class must be two different labels in 0..9, got "
            f"{majority_class} and {minority_class}."
        )
    if ratio < 1 or min(num_majority_train, num_majority_test) < ratio:
        raise ConfigError(
            f"Need ratio >= 1 and at least `ratio` majority images per split; got ratio "
            f"{ratio}, num_majority_train {num_majority_train}, test {num_majority_test}."
        )
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise ConfigError(f"out_dir {out_dir!r} is not empty; choose a new folder.")
    counts = {}
    for split_index, (split, num_majority) in enumerate(
        (("train", num_majority_train), ("test", num_majority_test))
    ):
        x, y = data.load_arrays(dataset, split, data_dir=data_dir)
        rng = np.random.default_rng([seed, split_index])
        counts[split] = {}
        for label, count in (
            (majority_class, num_majority),
            (minority_class, num_majority // ratio),
        ):
            members = np.flatnonzero(y == label)
            if count > members.size:
                raise ConfigError(f"{split} has only {members.size} images of class {label}.")
            chosen = np.sort(rng.choice(members, count, replace=False))
            folder = os.path.join(out_dir, split, names[label])
            for index in chosen:
                images_lib.write_png(os.path.join(folder, f"{index:05d}.png"), x[index])
            counts[split][names[label]] = int(count)
    return counts
