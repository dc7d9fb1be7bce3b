"""The SavedModel endpoints given wrong shapes, dtypes or counts.

See tests/hostile.py for what every hostile-input case asserts.
"""

import os

import pytest
import tensorflow as tf

from tests.hostile import _assert_named

# -- the SavedModel endpoints ------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(run_dir):
    return tf.saved_model.load(os.path.join(run_dir, "export"))


_BAD_CALLS = [
    ("encode", lambda s: s.encode(tf.zeros([2, 27, 28, 1])), "encode_x", "(None, 28, 28, 1)"),
    ("encode f64", lambda s: s.encode(tf.zeros([2, 28, 28, 1], tf.float64)), "encode_x", "float32"),
    (
        "reconstruct",
        lambda s: s.reconstruct(tf.zeros([2, 28, 28])),
        "reconstruct_x",
        "(None, 28, 28, 1)",
    ),
    ("decode", lambda s: s.decode(tf.zeros([2, 7])), "decode_z", "(None, 4)"),
    (
        "log_likelihood",
        lambda s: s.log_likelihood(tf.zeros([1, 28, 1, 28]), tf.constant(2), tf.constant([0, 1])),
        "log_likelihood_x",
        "(None, 28, 28, 1)",
    ),
    (
        "sample seed",
        lambda s: s.sample(tf.constant(3), tf.constant([0, 1, 2])),
        "sample_seed",
        "(2,)",
    ),
]


@pytest.mark.parametrize(
    "case, call, spec_name, expected", _BAD_CALLS, ids=[c[0] for c in _BAD_CALLS]
)
def test_saved_model_wrong_input_names_endpoint_and_shape(served, case, call, spec_name, expected):
    with pytest.raises((TypeError, ValueError)) as error:
        call(served)
    _assert_named(error, spec_name, expected)


@pytest.mark.parametrize(
    "call, named",
    [
        (lambda s: s.sample(tf.constant(-1), tf.constant([0, 1])), "sample: num must be >= 0"),
        (
            lambda s: s.log_likelihood(
                tf.zeros([1, 28, 28, 1]), tf.constant(0), tf.constant([0, 1])
            ),
            "log_likelihood: num_samples must be >= 1",
        ),
    ],
    ids=["sample num < 0", "log_likelihood num_samples 0"],
)
def test_saved_model_bad_counts_fail_instead_of_nan(served, call, named):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        call(served)
    assert named in str(error.value)
