"""The models' constructors, user arrays given to a model, and chains that meet NaN/inf targets.

See tests/hostile.py for what every hostile-input case asserts.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_smvae
from tests.hostile import _SMALL
from tests.hostile import SHAPE
from tests.hostile import _assert_named
from tests.hostile import _binary
from tests.hostile import _with
from tf_smvae import data
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError

# -- the models' constructors -----------------------------------------------------------------

_BAD_MODELS = [
    (tf_smvae.VAE, dict(latent_dim=0), "latent_dim"),
    (tf_smvae.VAE, dict(image_shape=(0, 28, 1)), "event_shape"),
    (tf_smvae.VAE, dict(network="transformer"), "network"),
    (tf_smvae.VAE, dict(likelihood="poisson"), "likelihood"),
    (tf_smvae.VAE, dict(prior="laplace"), "prior"),
    (tf_smvae.VAE, dict(scale_fn="relu"), "scale_fn"),
    (tf_smvae.VAE, dict(image_shape=(5, 7, 2), network="conv"), "conv"),
    (tf_smvae.SpeedMeasureVAE, dict(kernel="nuts"), "kernel"),
    (tf_smvae.SpeedMeasureVAE, dict(preconditioner="full"), "preconditioner"),
    (tf_smvae.SpeedMeasureVAE, dict(adaptation="adam"), "adaptation"),
    (tf_smvae.SpeedMeasureVAE, dict(entropy_estimator="lanczos"), "entropy_estimator"),
    (tf_smvae.SpeedMeasureVAE, dict(gradient_mode="third"), "gradient_mode"),
    (tf_smvae.SpeedMeasureVAE, dict(num_leapfrog_steps=0), "num_leapfrog_steps"),
    (tf_smvae.SpeedMeasureVAE, dict(num_mcmc_steps=0), "num_steps"),
    (tf_smvae.SpeedMeasureVAE, dict(init_step_size=-1.0), "init_step_size"),
    (
        tf_smvae.SpeedMeasureVAE,
        dict(adaptation="dual_averaging", preconditioner="tril"),
        "preconditioner",
    ),
    (
        tf_smvae.SpeedMeasureVAE,
        dict(adaptation="speed_measure_dual_averaging", preconditioner="identity"),
        "preconditioner",
    ),
    pytest.param(
        tf_smvae.SpeedMeasureVAE,
        dict(eval_proposal="median"),
        "eval_proposal",
    ),
    pytest.param(
        tf_smvae.SpeedMeasureVAE,
        dict(num_eval_chains=0),
        "num_eval_chains",
    ),
    pytest.param(
        tf_smvae.SpeedMeasureVAE,
        dict(mcmc_start_epoch=-1),
        "mcmc_start_epoch",
    ),
    (tf_smvae.VAE, dict(latent_dim=2.5), "latent_dim"),
]


@pytest.mark.parametrize(
    "cls, kwargs, named", _BAD_MODELS, ids=[f"{i}" for i in range(len(_BAD_MODELS))]
)
def test_model_constructor_names_the_bad_argument(cls, kwargs, named):
    arguments = dict(image_shape=SHAPE, latent_dim=2, network_kwargs=_SMALL)
    if cls is tf_smvae.SpeedMeasureVAE:
        arguments["kernel"] = "hmc"
    arguments.update(kwargs)
    with pytest.raises(ConfigError) as error:
        cls(**arguments)
    _assert_named(error, named)


# -- user arrays given to a model (likelihood.check_data, data.check_model_input) ------------


_BAD_ARRAYS = [
    ("nan", "bernoulli", _with(_binary(), (0, 0, 0, 0), np.nan), "non-finite"),
    ("inf", "gaussian", _with(_binary(), (1, 2, 3, 0), -np.inf), "non-finite"),
    ("above 1", "bernoulli", _binary() * 2.0, "[0, 1]"),
    ("grey levels 0..255", "discretized_logistic", _binary() * 255.0, "[0, 1]"),
    ("negative", "bernoulli", _binary() - 0.5, "[0, 1]"),
    ("off the bins", "discretized_logistic", _binary() * 0.5, "k/255"),
    ("wrong image shape", "bernoulli", _binary(shape=(27, 28, 1)), "[N, 28, 28, 1]"),
    ("no channel axis", "bernoulli", _binary(shape=(28, 28)), "[N, 28, 28, 1]"),
    ("no examples", "bernoulli", np.zeros((0, *SHAPE), np.float32), "no examples"),
    ("strings", "bernoulli", np.full((2, *SHAPE), "a"), "dtype"),
]


@pytest.mark.parametrize(
    "case, likelihood, x, problem", _BAD_ARRAYS, ids=[c[0] for c in _BAD_ARRAYS]
)
def test_likelihood_rejects_data_it_cannot_score(case, likelihood, x, problem):
    layer = tf_smvae.model.likelihoods.make_likelihood(likelihood, SHAPE)
    with pytest.raises(DataError) as error:
        layer.check_data(x, origin="fit(x)")
    _assert_named(error, "fit(x)", problem)


@pytest.mark.parametrize(
    "likelihood, x",
    [
        ("bernoulli", _binary() * 0.3),  # grey levels as probabilities
        ("discretized_logistic", np.round(_binary() * 200.0) / 255.0),
        ("gaussian", _binary() * 7.0 - 3.0),  # real-valued data
    ],
)
def test_likelihood_accepts_data_it_can_score(likelihood, x):
    layer = tf_smvae.model.likelihoods.make_likelihood(likelihood, SHAPE)
    np.testing.assert_array_equal(layer.check_data(tf.constant(x)), x)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda: tf.data.Dataset.from_tensor_slices(_binary(shape=(27, 28, 1))).batch(4), "shape"),
        (lambda: tf.data.Dataset.from_tensor_slices(np.full((2, *SHAPE), "a")).batch(2), "dtype"),
        (lambda: tf.data.Dataset.from_tensor_slices(_binary()).batch(4).take(0), "empty"),
        (lambda: (_with(_binary(), (0, 0, 0, 0), np.nan), None), "non-finite"),
    ],
    ids=["dataset shape", "dataset dtype", "empty dataset", "tuple with NaN"],
)
def test_check_model_input(small_vae, make, problem):
    with pytest.raises(DataError) as error:
        data.check_model_input(small_vae, make(), origin="data")
    _assert_named(error, "data", problem)
    data.check_model_input(small_vae, _binary(), origin="data")  # good data passes
    data.check_model_input(small_vae, tf.data.Dataset.from_tensor_slices(_binary()).batch(4))


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_fit_on_nan_array_raises_instead_of_a_nan_loss(method):
    model = tf_smvae.VAE(SHAPE, 2, network_kwargs=_SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    x = _with(_binary(), (0, 0, 0, 0), np.nan)
    with pytest.raises(DataError) as error:
        getattr(model, method)(x, batch_size=4, verbose=0)
    _assert_named(error, "non-finite")


def test_fit_on_wrong_shape_names_the_expected_shape():
    model = tf_smvae.VAE(SHAPE, 2, network_kwargs=_SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    with pytest.raises(DataError) as error:
        model.fit(_binary(shape=(27, 28, 1)), batch_size=4, verbose=0)
    _assert_named(error, "28, 28, 1")


# -- chains meeting NaN/inf targets keep going -------------------------------------------------


class _NaNForLargeLatents(keras.layers.Layer):
    """Logits NaN (first half of a batch) or +inf (second half) where |z_0| > 6.

    Encoder draws (scale ~0.7 at initialisation) never go there; MCMC proposals with a
    step size of 4 often do.
    """

    def __init__(self, image_shape, **kwargs):
        super().__init__(name="nan_decoder", **kwargs)
        self.image_shape = tuple(image_shape)
        self.dense = keras.layers.Dense(int(np.prod(image_shape)))

    def call(self, z):
        logits = self.dense(z)
        far = tf.abs(z[:, :1]) > 6.0
        half = tf.range(tf.shape(z)[0])[:, None] < tf.shape(z)[0] // 2
        bad = tf.where(half, tf.constant(np.nan, logits.dtype), tf.constant(np.inf, logits.dtype))
        logits = tf.where(far, bad, logits)
        return tf.reshape(logits, [-1, *self.image_shape, 1])


def test_chains_meeting_nonfinite_targets_keep_training():
    keras.utils.set_random_seed(0)
    shape = (4, 4, 1)
    model = tf_smvae.SpeedMeasureVAE(
        shape,
        2,
        kernel="mala",
        preconditioner="diag",
        num_mcmc_steps=4,
        init_step_size=4.0,
        warm_start=False,  # keep the large step size that sends chains to the NaN region
        network_kwargs=_SMALL,
        decoder=_NaNForLargeLatents(shape),
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        kernel_optimizer=keras.optimizers.Adam(1e-3),
        jit_compile=False,
    )
    x = _binary(num=64, shape=shape)
    history = model.fit(x, batch_size=16, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and np.all(np.isfinite(history["generative_loss"]))
    assert sum(history["rejected_nonfinite"]) > 0
    assert 0.0 <= history["acceptance"][-1] < 1.0
    for variable in model.refinement.trainable_variables:
        assert np.all(np.isfinite(variable.numpy())), variable.name
