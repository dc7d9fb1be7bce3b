"""`load`, `load_arrays` and `info`: datasets by name as `tf.data` pipelines or arrays.

The split's arrays (first `num_examples`) are checked once with vectorised numpy checks;
the shuffle order and the dynamic-binarization noise come from two seeds derived from
`seed` with different salts. Two pipelines:

- `repeat=True`, the training stream: an infinite sequence of batches in which batch
  number s (the optimizer step that consumes it) is a pure function of (`seed`, s).
  Batch s belongs to pass p = s // P over the data (P batches per pass) at place s % P;
  pass p's order is a stateless permutation of the whole split seeded by (`seed`, p),
  and batch s's binarization seed is derived from (`seed`, s). `start_step` starts the
  stream at batch s without reading the skipped images (only the index batches of the
  first pass are skipped), so a run resumed at optimizer step s sees exactly the batches
  an uninterrupted run sees from step s on: `counter(pass) -> flat_map(permuted index
  batches, their step numbers) -> skip -> gather + likelihood scaling -> prefetch`.
- `repeat=False`, one pass per iteration (evaluation, or Keras epochs over a finite
  dataset): `from_tensor_slices -> shuffle (whole split, seeded, reshuffled on every
  iteration) -> batch -> zip with a per-batch stateless seed -> scaling -> prefetch`.
"""

import zlib

import numpy as np
import tensorflow as tf

from tf_smvae.data.arrays import check_images
from tf_smvae.data.arrays import normalize_image_size
from tf_smvae.data.scaling import BINARIZATIONS
from tf_smvae.data.scaling import LIKELIHOODS
from tf_smvae.data.sources import SOURCES
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

__all__ = [
    "batches_per_pass",
    "info",
    "load",
    "load_arrays",
    "pass_order",
    "stream_seeds",
]

_PARALLEL = tf.data.AUTOTUNE


def _derived_seed(seed, salt):
    """Returns a Python int seed for one consumer (`salt`) of the user's `seed`."""
    entropy = [seed % 2**32, zlib.crc32(salt.encode("utf-8"))]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0] >> 1)


def _check_int(value, field, minimum, allow_none=False):
    """Raises ConfigError unless `value` is an int >= minimum (or None if allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{field} must be an int >= {minimum}; got {value!r}.")


def _raw(name, split, data_dir, image_size, download):
    """Looks the source up and reads the split's `RawArrays`."""
    source = SOURCES.get(name, field="name")
    return source.arrays(
        split, data_dir=data_dir, image_size=normalize_image_size(image_size), download=download
    )


def load_arrays(name, split, *, data_dir=None, image_size=None, download=True):
    """Reads one split of a dataset as numpy arrays, before any scaling.

    Args:
      name: a registered dataset name (see `source_names()`).
      split: "train" or "test" ("validation" where the source has it).
      data_dir: where to look first (IDX folder, tfds data_dir, image folder, .npz file).
      image_size: None (the source's size), an int, or a pair (height, width).
      download: whether tfds may download a dataset it does not find prepared.

    Returns:
      A pair (images, labels): images uint8 [N, H, W, C] with grey levels 0..255 (float32
      in [0, 1] for float `npz` data); labels int32 [N], or None for unlabelled datasets.

    Raises:
      ConfigError: for an unknown dataset name, split or a bad image_size.
      DataError: if the data is missing (the message names every place searched and how
        to get it) or malformed.
    """
    raw = _raw(name, split, data_dir, image_size, download)
    return raw.images, raw.labels


def info(name, *, data_dir=None, image_size=None):
    """Returns the `DatasetInfo` of a dataset: image shape, number of classes, splits.

    Static for the fixed datasets; `image_folder` and `npz` look at `data_dir`.

    Args:
      name: a registered dataset name.
      data_dir: as in `load`.
      image_size: as in `load`.

    Returns:
      A `DatasetInfo`.

    Raises:
      ConfigError: for an unknown name or a bad image_size.
      DataError: if `image_folder`/`npz` data is missing or malformed.
    """
    source = SOURCES.get(name, field="name")
    return source.info(data_dir=data_dir, image_size=normalize_image_size(image_size))


def _head(raw, num_examples):
    """Returns (images, labels) cut to the first `num_examples`."""
    if num_examples is None:
        return raw.images, raw.labels
    labels = None if raw.labels is None else raw.labels[:num_examples]
    return raw.images[:num_examples], labels


def _check_not_empty(num_images, batch_size, drop_remainder, origin):
    """Raises DataError if the pipeline would yield no batch at all."""
    if num_images == 0:
        raise DataError(f"{origin}: no examples to load (empty split or num_examples=0).")
    if drop_remainder and num_images < batch_size:
        raise DataError(
            f"{origin}: {num_images} examples make no full batch of {batch_size} with "
            f"drop_remainder=True."
        )


def _batches(elements, num_images, *, shuffle, seed, batch_size, drop_remainder):
    """One pass of (batch, int64[2] seed) pairs before scaling, reshuffled per iteration."""
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(
            num_images, seed=_derived_seed(seed, "shuffle"), reshuffle_each_iteration=True
        )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    noise = tf.data.Dataset.random(
        seed=_derived_seed(seed, "binarization"), rerandomize_each_iteration=True
    ).batch(2)
    return tf.data.Dataset.zip((dataset, noise))


def batches_per_pass(num_images, batch_size, drop_remainder):
    """Batches in one pass over `num_images` examples (P of the training stream)."""
    if drop_remainder:
        return num_images // batch_size
    return -(-num_images // batch_size)


def stream_seeds(seed):
    """The int64[2] base seeds of the training stream's permutations and binarization.

    Args:
      seed: the user's Python int seed.

    Returns:
      `(shuffle_seed, noise_seed)`: pass p's permutation uses
      `stateless_fold_in(shuffle_seed, p)`, batch s's binarization
      `stateless_fold_in(noise_seed, s)`.
    """
    return tuple(
        tf.constant([_derived_seed(seed, salt), 0], tf.int64)
        for salt in ("shuffle", "binarization")
    )


def pass_order(num_images, seed, pass_index, shuffle=True):
    """The example order of pass `pass_index` of the training stream (int64 [N]).

    Args:
      num_images: N, examples in the split (after `num_examples`).
      seed: the user's Python int seed.
      pass_index: p (int or int64 scalar tensor).
      shuffle: False keeps the stored order.

    Returns:
      int64 tensor [N], a permutation of 0..N-1 that depends only on (seed, p).
    """
    indices = tf.range(num_images, dtype=tf.int64)
    if not shuffle:
        return indices
    shuffle_seed, _ = stream_seeds(seed)
    pass_seed = tf.random.experimental.stateless_fold_in(
        shuffle_seed, tf.cast(pass_index, tf.int64)
    )
    return tf.random.experimental.stateless_shuffle(indices, seed=pass_seed)


def _stream(elements, num_images, *, shuffle, seed, batch_size, drop_remainder, start_step):
    """The infinite training stream of (batch, int64[2] seed) pairs from `start_step`."""
    per_pass = batches_per_pass(num_images, batch_size, drop_remainder)
    start_pass, skip = divmod(start_step, per_pass)
    _, noise_seed = stream_seeds(seed)

    def one_pass(pass_index):
        order = pass_order(num_images, seed, pass_index, shuffle=shuffle)
        index_batches = tf.data.Dataset.from_tensor_slices(order).batch(
            batch_size, drop_remainder=drop_remainder
        )
        first = pass_index * per_pass
        steps = tf.data.Dataset.range(first, first + per_pass)
        return tf.data.Dataset.zip((index_batches, steps))

    tensors = tf.nest.map_structure(tf.convert_to_tensor, elements)

    def gather(indices, step):
        batch = tf.nest.map_structure(lambda array: tf.gather(array, indices), tensors)
        batch_seed = tf.random.experimental.stateless_fold_in(noise_seed, step)  # int64 step
        return batch, batch_seed

    dataset = tf.data.Dataset.counter(start_pass).flat_map(one_pass).skip(skip)
    dataset = dataset.map(gather, num_parallel_calls=_PARALLEL)
    return dataset.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))


def load(
    name,
    split,
    *,
    batch_size=100,
    likelihood="bernoulli",
    binarization="static",
    data_dir=None,
    shuffle=True,
    seed=0,
    repeat=False,
    num_examples=None,
    drop_remainder=False,
    with_labels=False,
    image_size=None,
    validate=True,
    download=True,
    start_step=0,
):
    """Loads a dataset split as a batched `tf.data.Dataset` scaled for a likelihood.

    Args:
      name: a registered dataset name (see `source_names()`).
      split: "train" or "test" ("validation" where the source has it).
      batch_size: examples per batch.
      likelihood: "bernoulli", "discretized_logistic" or "gaussian" (see `scaling`).
      binarization: "static", "dynamic" or "none"; used by "bernoulli" only (the name is
        checked whatever the likelihood).
      data_dir: where to look first (IDX folder, tfds data_dir, image folder, .npz file).
      shuffle: shuffle the whole split, reshuffled on every pass, seeded by `seed`.
      seed: Python int; fixes the shuffle order and the dynamic-binarization draws.
      repeat: repeat the batches indefinitely, as the training stream whose batch s is a
        pure function of (`seed`, s) (see the module docstring); without it every
        iteration over the dataset is one freshly shuffled pass.
      num_examples: keep only the first N examples of the split (before shuffling);
        None keeps all.
      drop_remainder: drop the last, smaller batch.
      with_labels: yield (images, labels int32 [B]) instead of images.
      image_size: None (the source's size), an int, or a pair (height, width).
      validate: check NaN/inf and the value range for the likelihood before building the
        pipeline (vectorised, once).
      download: whether tfds may download a dataset it does not find prepared.
      start_step: with `repeat`, the first batch is the stream's batch number
        `start_step` (a resumed run passes its optimizer step); the skipped images are
        not read. Must be 0 without `repeat`.

    Returns:
      A `tf.data.Dataset` of float32 images [B, H, W, C] (C = 1 or 3), or of pairs
      (images, labels) when `with_labels`.

    Raises:
      ConfigError: for an unknown name, likelihood, binarization or split, or a bad
        batch_size, num_examples, seed, start_step or image_size.
      DataError: for missing or malformed data, values the likelihood cannot take, an
        empty result, or `with_labels` on an unlabelled dataset.

    #### Examples

    ```python
    train = load("fashion_mnist", "train", batch_size=100, binarization="dynamic")
    images = next(iter(train))  # float32 [100, 28, 28, 1] in {0, 1}
    ```
    """
    scaling = LIKELIHOODS.get(likelihood, field="likelihood")
    binarize = BINARIZATIONS.get(binarization, field="binarization")
    _check_int(batch_size, "batch_size", 1)
    _check_int(num_examples, "num_examples", 0, allow_none=True)
    _check_int(seed, "seed", 0)
    _check_int(start_step, "start_step", 0)
    if start_step and not repeat:
        raise ConfigError(f"start_step={start_step} needs repeat=True (the training stream).")
    raw = _raw(name, split, data_dir, image_size, download)
    images, labels = _head(raw, num_examples)
    _check_not_empty(images.shape[0], batch_size, drop_remainder, raw.origin)
    if validate:
        check_images(
            images,
            raw.origin,
            integer_levels=scaling.integer_levels,
            unit_interval=scaling.unit_interval,
        )
    if with_labels and labels is None:
        raise DataError(f"{raw.origin}: dataset {name!r} has no labels (with_labels=True).")
    options = dict(shuffle=shuffle, seed=seed, batch_size=batch_size, drop_remainder=drop_remainder)
    elements = (images, labels) if with_labels else images
    if repeat:
        batches = _stream(elements, images.shape[0], start_step=start_step, **options)
    else:
        batches = _batches(elements, images.shape[0], **options)
    if with_labels:
        dataset = batches.map(
            lambda xy, s: (scaling.scale(xy[0], s, binarize), xy[1]), num_parallel_calls=_PARALLEL
        )
    else:
        dataset = batches.map(
            lambda x, s: scaling.scale(x, s, binarize), num_parallel_calls=_PARALLEL
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
