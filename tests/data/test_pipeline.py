"""The `load` pipeline: shuffling, subsetting, batching, labels and argument errors."""

import numpy as np
import pytest

from tf_smvae import data
from tf_smvae.data import pipeline
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError


def _epoch(dataset):
    """One pass as (images, labels) numpy arrays."""
    batches = list(dataset)
    return tuple(np.concatenate([b[i].numpy() for b in batches]) for i in range(2))


def _load(path, **kwargs):
    kwargs.setdefault("batch_size", 16)
    kwargs.setdefault("binarization", "none")
    return data.load("npz", "train", data_dir=path, with_labels=True, **kwargs)


def _order(images, x):
    """Indices of the rows of `x` (scaled images) in the raw `images`."""
    flat = {row.tobytes(): i for i, row in enumerate(images.reshape(len(images), -1))}
    raw = np.round(x[..., 0] * 255).astype(np.uint8).reshape(len(x), -1)
    return [flat[row.tobytes()] for row in raw]


def test_shuffle_is_seeded_and_reshuffled_each_epoch(grey_npz):
    path, images, labels = grey_npz
    dataset = _load(path, seed=7)
    first, second = _epoch(dataset), _epoch(dataset)
    order = _order(images, first[0])
    assert sorted(order) == list(range(50)) and order != list(range(50))
    np.testing.assert_array_equal(first[1], labels[order])
    assert _order(images, second[0]) != order
    again = _epoch(_load(path, seed=7))
    np.testing.assert_array_equal(again[0], first[0])
    assert _order(images, _epoch(_load(path, seed=8))[0]) != order


def test_no_shuffle_keeps_order(grey_npz):
    path, images, labels = grey_npz
    x, y = _epoch(_load(path, shuffle=False))
    assert _order(images, x) == list(range(50))
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int32


def test_num_examples_takes_first_examples_before_shuffling(grey_npz):
    path, images, _ = grey_npz
    x, _ = _epoch(_load(path, num_examples=20, seed=1))
    assert sorted(_order(images, x)) == list(range(20))
    assert len(_epoch(_load(path, num_examples=500))[0]) == 50


@pytest.mark.parametrize("drop_remainder, sizes", [(False, [16, 16, 16, 2]), (True, [16, 16, 16])])
def test_drop_remainder(grey_npz, drop_remainder, sizes):
    dataset = _load(grey_npz[0], drop_remainder=drop_remainder)
    assert [b[0].shape[0] for b in dataset] == sizes
    assert dataset.element_spec[0].shape[0] == (16 if drop_remainder else None)


def test_repeat_runs_past_one_epoch(grey_npz):
    dataset = _load(grey_npz[0], repeat=True, batch_size=20, drop_remainder=True)
    assert len(list(dataset.take(7))) == 7


def test_images_only_without_labels(grey_npz):
    dataset = data.load("npz", "train", data_dir=grey_npz[0], batch_size=8)
    batch = next(iter(dataset))
    assert batch.shape == (8, 8, 6, 1) and batch.dtype.name == "float32"


def test_with_labels_on_unlabelled_data(tmp_path):
    path = str(tmp_path / "x.npz")
    np.savez(path, x=np.zeros((4, 3, 3), np.uint8))
    with pytest.raises(DataError, match="no labels"):
        data.load("npz", "train", data_dir=path, with_labels=True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_examples": 0}, "no examples"),
        ({"batch_size": 64, "drop_remainder": True}, "no full batch"),
    ],
)
def test_empty_results_raise(grey_npz, kwargs, match):
    with pytest.raises(DataError, match=match):
        _load(grey_npz[0], **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_examples": -1}, "num_examples"),
        ({"seed": 1.5}, "seed"),
        ({"image_size": (3, 0)}, "image_size"),
        ({"start_step": -1, "repeat": True}, "start_step"),
        ({"start_step": 3}, "start_step=3 needs repeat=True"),
    ],
)
def test_bad_arguments(grey_npz, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _load(grey_npz[0], **kwargs)


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ConfigError, match="Unknown dataset 'mnits'") as info:
        data.load("mnits", "train")
    for name in ("fashion_mnist", "mnist", "omniglot", "svhn", "cifar10", "image_folder", "npz"):
        assert name in str(info.value)
    assert set(data.source_names()) >= {"binarized_mnist", "fashion_mnist", "npz"}


def test_unknown_split_of_fixed_source():
    with pytest.raises(ConfigError, match="no split 'validation'.*train, test"):
        data.load_arrays("cifar10", "validation")


def test_info_of_static_sources():
    assert data.info("svhn") == data.DatasetInfo((32, 32, 3), 10, ("train", "test", "extra"))
    assert data.info("omniglot").image_shape == (28, 28, 1)
    assert data.info("omniglot", image_size=105).image_shape == (105, 105, 1)
    assert data.info("binarized_mnist").num_classes is None
    assert data.info("mnist", image_size=(32, 30)).image_shape == (32, 30, 1)


# -- the training stream (repeat=True): batch s is a pure function of (seed, s) ----------


def _stream(path, start_step, count, **kwargs):
    """`count` batches of the stream from `start_step` as (images, labels) numpy pairs."""
    kwargs.setdefault("binarization", "dynamic")
    dataset = _load(path, seed=3, repeat=True, start_step=start_step, **kwargs)
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(count)]


@pytest.mark.parametrize("drop_remainder", [True, False])
def test_stream_from_a_step_is_the_uninterrupted_tail(grey_npz, drop_remainder):
    # 50 examples, batch 16: 3 batches a pass with drop_remainder, else 4 (the last of 2).
    path = grey_npz[0]
    full = _stream(path, 0, 14, drop_remainder=drop_remainder)
    for start in (1, 3, 4, 7, 11):  # mid-pass, pass boundaries, later passes
        tail = _stream(path, start, 14 - start, drop_remainder=drop_remainder)
        for step, (expected, resumed) in enumerate(zip(full[start:], tail), start):
            np.testing.assert_array_equal(resumed[0], expected[0], err_msg=f"step {step}")
            np.testing.assert_array_equal(resumed[1], expected[1], err_msg=f"step {step}")


def test_stream_passes_are_seeded_permutations_of_the_whole_split(grey_npz):
    path, images, labels = grey_npz
    batches = _stream(path, 0, 9, binarization="none", drop_remainder=False, batch_size=25)
    passes = [np.concatenate([x for x, _ in batches[i : i + 2]]) for i in (0, 2, 4)]
    orders = [_order(images, x) for x in passes]
    for order in orders:
        assert sorted(order) == list(range(50))
    assert orders[0] != orders[1] != orders[2] and orders[0] != list(range(50))
    assert orders[1] == pipeline.pass_order(50, 3, 1).numpy().tolist()
    np.testing.assert_array_equal(batches[2][1], labels[orders[1][:25]])
    other_seed = _load(path, seed=4, repeat=True, binarization="none", batch_size=25)
    assert _order(images, next(iter(other_seed))[0].numpy()) != orders[0][:25]


def test_stream_binarization_noise_is_fresh_per_step(grey_npz):
    path = grey_npz[0]
    # One image per pass: the same pixels in every batch, so only the noise differs.
    batches = _stream(path, 0, 4, num_examples=1, batch_size=1)
    draws = [x for x, _ in batches]
    assert set(np.unique(np.concatenate(draws))) <= {0.0, 1.0}
    assert not any(np.array_equal(draws[0], d) for d in draws[1:])
    np.testing.assert_array_equal(_stream(path, 2, 1, num_examples=1, batch_size=1)[0][0], draws[2])


def test_stream_start_far_ahead_reads_nothing_skipped(grey_npz):
    path = grey_npz[0]
    dataset = _load(path, repeat=True, start_step=10**7, batch_size=16, drop_remainder=True)
    assert dataset.cardinality().numpy() == -1  # infinite
    first = next(iter(dataset))
    assert first[0].shape == (16, 8, 6, 1)
    per_pass = pipeline.batches_per_pass(50, 16, True)
    order = pipeline.pass_order(50, 0, 10**7 // per_pass).numpy()
    assert first[1].numpy().tolist() == (np.arange(50) % 5)[order[16:32]].tolist()
