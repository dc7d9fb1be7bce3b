"""The evaluation functions (IS log-likelihood, KID) given bad arguments or data.

See tests/hostile.py for what every hostile-input case asserts.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.hostile import _assert_named
from tests.hostile import _binary
from tests.hostile import _with
from tf_smvae import evaluation
from tf_smvae.util.errors import DataError

# -- evaluation functions -----------------------------------------------------------------------


def test_log_likelihood_bad_arguments(small_vae):
    x = _binary()
    with pytest.raises(ValueError) as error:
        evaluation.log_likelihood(small_vae, x, num_samples=0)
    _assert_named(error, "num_samples")
    with pytest.raises(ValueError) as error:
        evaluation.log_likelihood(small_vae, x, num_samples=2, tau=-1.0)
    _assert_named(error, "tau")
    empty = tf.data.Dataset.from_tensor_slices(x).batch(4).take(0)
    with pytest.raises(ValueError) as error:
        evaluation.log_likelihood(small_vae, empty, num_samples=2)
    _assert_named(error, "empty")


@pytest.mark.parametrize(
    "x, problem",
    [
        (_with(_binary(), (0, 0, 0, 0), np.nan), "non-finite"),
        (_binary() * 3.0, "[0, 1]"),
        (tf.data.Dataset.from_tensor_slices(_binary(shape=(27, 28, 1))).batch(4), "shape"),
    ],
    ids=["nan", "range", "dataset shape"],
)
def test_log_likelihood_rejects_bad_data(small_vae, x, problem):
    with pytest.raises(DataError) as error:
        evaluation.log_likelihood(small_vae, x, num_samples=2, jit_compile=False)
    _assert_named(error, problem)


@pytest.mark.parametrize(
    "real, kwargs, named",
    [
        (np.full((8, 3), np.nan), {}, "real_features"),
        (np.ones((8,)), {}, "real_features"),
        (np.ones((1, 3)), {}, "real_features"),
        (np.ones((8, 3)), dict(num_subsets=0), "num_subsets"),
        (np.ones((8, 3)), dict(subset_size=1), "subset_size"),
    ],
)
def test_kid_names_the_bad_argument(real, kwargs, named):
    with pytest.raises(ValueError) as error:
        evaluation.kid(real, np.ones((8, 3)), **kwargs)
    _assert_named(error, named)
