"""`util.replicas` helpers that need no strategy: the evaluation batch cut."""

import numpy as np
import tensorflow as tf

from tf_smvae.util import replicas


def _sizes(dataset):
    return [int(tf.nest.flatten(batch)[0].shape[0]) for batch in dataset]


def test_split_batches_evenly_cuts_only_what_does_not_split():
    images = np.arange(7, dtype=np.float32)[:, None]
    batched = tf.data.Dataset.from_tensor_slices(images).batch(4)
    assert _sizes(replicas.split_batches_evenly(batched, 1)) == [4, 3]
    cut = list(replicas.split_batches_evenly(batched, 2))
    assert _sizes(cut) == [4, 2]
    np.testing.assert_array_equal(np.concatenate(cut)[:, 0], np.arange(6))
    # (images, labels) batches are cut alike; a batch cut to nothing stays, empty, so
    # the dataset keeps its known length (Keras then stops without an extra step).
    pairs = tf.data.Dataset.from_tensor_slices((images, np.arange(7))).batch(3)
    split = replicas.split_batches_evenly(pairs, 3)
    assert int(split.cardinality()) == 3
    cut = list(split)
    assert _sizes(cut) == [3, 3, 0]
    assert [labels.numpy().tolist() for _, labels in cut] == [[0, 1, 2], [3, 4, 5], []]
