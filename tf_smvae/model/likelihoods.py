"""Decoder likelihoods p(x|z): Bernoulli, discretised logistic (256 bins), Gaussian.

Each likelihood is a Keras layer holding its own parameters (a learned scale or variance) and
reading the decoder's output `params` [..., *event_shape, num_params]. Data x has shape
[..., *event_shape]; leading dims of `params` and `x` broadcast (e.g. params [S, B, ...] against
x [B, ...]), and `log_prob` sums over the event dims.
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.data import scaling
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.errors import DataError
from tf_smvae.util.registry import Registry
from tf_smvae.util.seeds import as_seed

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = [
    "LIKELIHOODS",
    "BernoulliLikelihood",
    "DiscretizedLogisticLikelihood",
    "GaussianLikelihood",
    "make_likelihood",
    "register",
]

LIKELIHOODS = Registry("likelihood")


def register(name):
    """Registers a likelihood class under `name`: its one registration.

    The class carries everything the rest of the library needs to know about it: its
    constructor, `data_scaling` (how the data pipeline scales images for it; entered in
    `tf_smvae.data.LIKELIHOODS` under the same name) and `config_options(variance,
    learn_scale)` (its constructor arguments from the config fields
    `model.likelihood_variance` and `model.learn_likelihood_scale`).

    Args:
      name: the name users and configs give (`model.likelihood`).

    Returns:
      A class decorator.
    """

    def decorator(cls):
        if not isinstance(cls.data_scaling, scaling.Scaling):
            raise TypeError(f"Likelihood {name!r} must set data_scaling to a data.Scaling.")
        LIKELIHOODS.register(name)(cls)
        scaling.LIKELIHOODS.register(name)(cls.data_scaling)
        return keras.saving.register_keras_serializable(package="tf_smvae")(cls)

    return decorator


# log s with s^2 = 0.1, the paper's fixed logistic "sigma^2 = 0.1" (SVHN).
_PAPER_LOG_SCALE = 0.5 * math.log(0.1)

# Shape of a learned likelihood parameter, given the event shape.
_PARAMETER_SHAPES = Registry("likelihood parameter shape")
# Data counts as on the bin centres when |x (num_bins - 1) - k| is below this for an integer k.
_GRID_TOLERANCE = 1e-3
_PARAMETER_SHAPES.register("shared")(lambda event_shape: ())
_PARAMETER_SHAPES.register("per_pixel")(lambda event_shape: tuple(event_shape))


def make_likelihood(name, event_shape, **kwargs):
    """Builds the likelihood registered as `name`.

    Args:
      name: "bernoulli", "discretized_logistic" or "gaussian".
      event_shape: shape of one example, e.g. (28, 28, 1).
      **kwargs: further constructor arguments of that likelihood.

    Returns:
      A built likelihood layer.

    Raises:
      ConfigError: unknown `name` (the message lists the known ones) or bad arguments.
    """
    return LIKELIHOODS.get(name, field="likelihood")(event_shape=event_shape, **kwargs)


class _Likelihood(keras.layers.Layer):
    """Base class: event shape bookkeeping, the parameter squeeze, the event sum.

    Subclasses set `is_discrete`, `data_range`, `data_scaling` (a `tf_smvae.data.Scaling`)
    and implement `_log_prob_values(loc, x)`, `_mean(loc)` and `_sample(loc, seed)` on the
    squeezed parameters [..., *event_shape]; one with a scale or variance overrides
    `config_options`.
    """

    num_params = 1
    is_discrete = False
    data_range = (-math.inf, math.inf)
    data_scaling = None

    @classmethod
    def config_options(cls, variance, learn_scale):
        """Constructor arguments from the config fields `model.likelihood_variance` and
        `model.learn_likelihood_scale` (none for a likelihood without a scale).

        Args:
          variance: the configured variance sigma^2 of the likelihood's scale.
          learn_scale: whether that scale is trained.

        Returns:
          A dict of keyword arguments of the constructor.
        """
        del variance, learn_scale
        return {}

    def __init__(self, event_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            self.event_shape = tuple(int(s) for s in event_shape)
        except (TypeError, ValueError):
            raise ConfigError(
                f"event_shape must be a sequence of ints, got {event_shape!r}."
            ) from None
        if not self.event_shape or any(s <= 0 for s in self.event_shape):
            raise ConfigError(f"event_shape must hold positive ints, got {self.event_shape}.")

    def build(self, input_shape=None):
        """Creates no variables; subclasses with parameters override it."""

    def check_data(self, x, origin="x"):
        """Checks, eagerly and once, that data `x` is something this likelihood can score.

        Use it on user arrays before training or evaluation (inside a compiled step a bad
        value would only show up as a NaN loss).

        Args:
          x: array-like [N, *event_shape] (numpy array or eager tensor).
          origin: the argument, flag or file `x` came from, named in error messages.

        Returns:
          `x` as a numpy array.

        Raises:
          DataError: naming `origin`, for a non-numeric dtype, a shape other than
            [N, *event_shape], no examples, NaN/inf, or values this likelihood cannot take
            (outside `data_range`, or off the bin centres of a discretised likelihood).
        """
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise DataError(f"{origin}: data of dtype {x.dtype} is not numeric; pass floats.")
        if x.ndim != len(self.event_shape) + 1 or tuple(x.shape[1:]) != self.event_shape:
            raise DataError(
                f"{origin}: expected data of shape [N, {', '.join(map(str, self.event_shape))}]"
                f" (the model's image shape), got shape {x.shape}."
            )
        if x.shape[0] == 0:
            raise DataError(f"{origin}: no examples (shape {x.shape}).")
        values = x.astype(np.float64)
        finite = np.isfinite(values)
        if not finite.all():
            raise DataError(
                f"{origin}: {values.size - int(finite.sum())} non-finite values (NaN or inf)."
            )
        low, high = self.data_range
        found = (float(values.min()), float(values.max()))
        if found[0] < low or found[1] > high:
            raise DataError(
                f"{origin}: the {self.name_for_errors} likelihood takes values in "
                f"[{low:g}, {high:g}]; found values in [{found[0]:g}, {found[1]:g}] (scale "
                f"0..255 grey levels to [0, 1], as tf_smvae.data.load does)."
            )
        self._check_values(values, origin)
        return x

    def _check_values(self, values, origin):
        """Further checks of finite, in-range float64 values; subclasses override it."""
        del values, origin

    @property
    def name_for_errors(self):
        """The registered name of this likelihood, for messages."""
        return _REGISTERED_NAMES.get(type(self), type(self).__name__)

    def _event_axes(self):
        return list(range(-len(self.event_shape), 0))

    def log_prob(self, params, x):
        """Log-likelihood log p(x|params), summed over the event dims.

        Args:
          params: decoder output [..., *event_shape, num_params].
          x: data [..., *event_shape]; leading dims broadcast against those of `params`.

        Returns:
          Tensor of the broadcast leading shape.
        """
        x = tf.convert_to_tensor(x, self.compute_dtype)
        values = self._log_prob_values(params[..., 0], x)
        return tf.reduce_sum(values, axis=self._event_axes())

    def mean(self, params):
        """Mean of p(x|params) in data space, [..., *event_shape]."""
        return self._mean(params[..., 0])

    def sample(self, params, seed):
        """One draw x ~ p(x|params), [..., *event_shape].

        Args:
          params: decoder output [..., *event_shape, num_params].
          seed: stateless seed (int or int32[2]).
        """
        return self._sample(params[..., 0], as_seed(seed))

    def call(self, params, x):
        """Same as `log_prob(params, x)`."""
        return self.log_prob(params, x)

    def get_config(self):
        config = super().get_config()
        config.update(event_shape=list(self.event_shape))
        return config


def _flatten_event(values, event_rank, event_size):
    """[..., *event_shape] -> [..., event_size], static leading dims kept where known."""
    values = tf.convert_to_tensor(values)
    leading = values.shape[: values.shape.rank - event_rank]
    if leading.is_fully_defined():
        return tf.reshape(values, leading.as_list() + [event_size])
    return tf.reshape(values, tf.concat([tf.shape(values)[:-event_rank], [event_size]], 0))


@register("bernoulli")
class BernoulliLikelihood(_Likelihood):
    """Bernoulli with logits l: log p(x|l) = x log sigmoid(l) + (1 - x) log sigmoid(-l).

    Also valid (as a cross-entropy) for grey levels x in [0, 1], the "binarization none" mode.
    """

    is_discrete = True
    data_range = (0.0, 1.0)
    data_scaling = scaling.BINARIZED

    def __init__(self, event_shape, **kwargs):
        """Creates the likelihood.

        Args:
          event_shape: shape of one example.
          **kwargs: passed to `keras.layers.Layer`.
        """
        super().__init__(event_shape, **kwargs)
        self.build()

    def log_prob(self, params, x):
        # Same as the base class, on the event flattened to one axis: XLA on CPU vectorises
        # elementwise work along the minor dimension, which is 1 for [..., H, W, 1] images;
        # flat, the log-prob of decoder outputs for IS evaluation is ~1.7x faster.
        size = math.prod(self.event_shape)
        logits = _flatten_event(params[..., 0], len(self.event_shape), size)
        x = _flatten_event(tf.convert_to_tensor(x, self.compute_dtype), len(self.event_shape), size)
        return tf.reduce_sum(self._log_prob_values(logits, x), axis=-1)

    def _log_prob_values(self, logits, x):
        # x log sigmoid(l) + (1 - x) log sigmoid(-l) = x l - softplus(l), with
        # softplus(l) = max(l, 0) + log1p(exp(-|l|)) written out as in
        # `tf.nn.sigmoid_cross_entropy_with_logits` (which does not broadcast). Under XLA
        # on CPU `tf.math.softplus` evaluates exp and log1p on both of its branches; this
        # form makes a decoder pass (value and gradient) ~15% faster, the gradient reusing
        # exp(-|l|) (without XLA it is a few more kernels). `where`, not relu/abs, keeps
        # the derivatives at l = 0 right (1/2 and 1/4).
        positive = logits >= 0.0
        relu_logits = tf.where(positive, logits, tf.zeros_like(logits))
        neg_abs_logits = tf.where(positive, -logits, logits)
        return x * logits - relu_logits - tf.math.log1p(tf.exp(neg_abs_logits))

    def _mean(self, logits):
        return tf.sigmoid(logits)

    def _sample(self, logits, seed):
        return tfd.Bernoulli(logits=logits, dtype=logits.dtype).sample(seed=seed)


@register("discretized_logistic")
class DiscretizedLogisticLikelihood(_Likelihood):
    """Logistic(loc, s) discretised into `num_bins` bins on [0, 1] with open edge bins.

    Data sit at the bin centres c_k = k / (num_bins - 1); with the half-width
    delta = 1 / (2 (num_bins - 1)) and F the logistic CDF, P(c_k) = F(c_k + delta) -
    F(c_k - delta) for interior bins, F(delta) for the first (from -inf) and 1 - F(1 - delta) for
    the last (to +inf), so the num_bins probabilities sum to one. With a = (x + delta - loc) / s,
    b = (x - delta - loc) / s, interior bins use the exact identity
    log(sigmoid(a) - sigmoid(b)) = log_sigmoid(a) + log_sigmoid(-b) + log(-expm1(b - a)),
    finite for every finite a > b (no 1e-7 floor). The location is the decoder output as is;
    s = exp(log_scale), log_scale a variable (trainable iff `learn_scale`), shared by all data
    values or one per data value.

    #### References

    [1]: Tim Salimans, Andrej Karpathy, Xi Chen, Diederik P. Kingma. PixelCNN++: Improving the
         PixelCNN with Discretized Logistic Mixture Likelihood and Other Modifications. ICLR
         2017. https://arxiv.org/abs/1701.05517
    """

    is_discrete = True
    data_range = (0.0, 1.0)
    data_scaling = scaling.BIN_CENTRES

    @classmethod
    def config_options(cls, variance, learn_scale):
        # sigma^2 = variance of the logistic's scale parameter, as the paper states it.
        return {"log_scale_init": 0.5 * math.log(variance), "learn_scale": learn_scale}

    def __init__(
        self,
        event_shape,
        num_bins=256,
        log_scale_init=_PAPER_LOG_SCALE,
        learn_scale=False,
        scale_shape="shared",
        **kwargs,
    ):
        """Creates the likelihood and its log-scale variable.

        Args:
          event_shape: shape of one example.
          num_bins: number of bins on [0, 1] (256 for 8-bit images).
          log_scale_init: initial log s; the default log(sqrt(0.1)) reads the paper's
            "sigma^2 = 0.1" (SVHN) as s^2 = 0.1.
          learn_scale: whether log s is trainable (paper: fixed).
          scale_shape: "shared" (one scalar) or "per_pixel" (one per data value).
          **kwargs: passed to `keras.layers.Layer`.

        Raises:
          ConfigError: num_bins < 2 or an unknown scale_shape.
        """
        super().__init__(event_shape, **kwargs)
        if int(num_bins) != num_bins or num_bins < 2:
            raise ConfigError(f"num_bins must be an int >= 2, got {num_bins!r}.")
        self.num_bins = int(num_bins)
        self.log_scale_init = float(log_scale_init)
        self.learn_scale = bool(learn_scale)
        self.scale_shape = scale_shape
        self._variable_shape = _PARAMETER_SHAPES.get(scale_shape, field="scale_shape")(
            self.event_shape
        )
        self.build()

    def build(self, input_shape=None):
        self.log_scale = self.add_weight(
            name="log_scale",
            shape=self._variable_shape,
            initializer=keras.initializers.Constant(self.log_scale_init),
            trainable=self.learn_scale,
        )

    @property
    def bin_half_width(self):
        return 0.5 / (self.num_bins - 1)

    def _check_values(self, values, origin):
        """The data must sit on the bin centres k / (num_bins - 1)."""
        top = self.num_bins - 1
        off_grid = float(np.abs(values * top - np.round(values * top)).max())
        if off_grid > _GRID_TOLERANCE:
            raise DataError(
                f"{origin}: the discretized_logistic likelihood needs values on the bin "
                f"centres k/{top} (grey levels); found values up to {off_grid / top:.3g} "
                f"away from them."
            )

    def _log_prob_values(self, loc, x):
        delta = self.bin_half_width
        inv_scale = tf.exp(-tf.convert_to_tensor(self.log_scale))
        upper = (x + delta - loc) * inv_scale
        lower = (x - delta - loc) * inv_scale
        log_first = tf.math.log_sigmoid(upper)
        log_last = tf.math.log_sigmoid(-lower)
        # b - a = -2 delta / s, the same for every bin.
        log_width = tf.math.log(-tf.math.expm1(-2.0 * delta * inv_scale))
        log_interior = log_first + log_last + log_width
        return tf.where(x < delta, log_first, tf.where(x > 1.0 - delta, log_last, log_interior))

    def _mean(self, loc):
        # Mean of the logistic clipped to [0, 1]: int_0^1 sigmoid((loc - t) / s) dt; the
        # discretised mean is the midpoint rule of the same integral (error O(delta^2)).
        scale = tf.exp(tf.convert_to_tensor(self.log_scale))
        return scale * (tf.math.softplus(loc / scale) - tf.math.softplus((loc - 1.0) / scale))

    def _sample(self, loc, seed):
        scale = tf.exp(tf.convert_to_tensor(self.log_scale))
        draw = tfd.Logistic(loc=loc, scale=tf.broadcast_to(scale, tf.shape(loc))).sample(seed=seed)
        top = float(self.num_bins - 1)
        return tf.round(tf.clip_by_value(draw, 0.0, 1.0) * top) / top

    def get_config(self):
        config = super().get_config()
        config.update(
            num_bins=self.num_bins,
            log_scale_init=self.log_scale_init,
            learn_scale=self.learn_scale,
            scale_shape=self.scale_shape,
        )
        return config


@register("gaussian")
class GaussianLikelihood(_Likelihood):
    """Normal(mean = params, variance) per data value, variance fixed or learned.

    The variance is softplus(v) of an unconstrained variable v (initialised with the inverse
    softplus of `variance_init`), shared or one per data value.
    """

    data_scaling = scaling.UNIT_INTERVAL

    @classmethod
    def config_options(cls, variance, learn_scale):
        return {"variance_init": variance, "learn_variance": learn_scale}

    def __init__(
        self,
        event_shape,
        variance_init=1.0,
        learn_variance=False,
        variance_shape="per_pixel",
        **kwargs,
    ):
        """Creates the likelihood and its variance variable.

        Args:
          event_shape: shape of one example.
          variance_init: initial variance (> 0).
          learn_variance: whether the variance is trainable.
          variance_shape: "shared" (one scalar) or "per_pixel" (one per data value).
          **kwargs: passed to `keras.layers.Layer`.

        Raises:
          ConfigError: variance_init <= 0 or an unknown variance_shape.
        """
        super().__init__(event_shape, **kwargs)
        if not variance_init > 0.0:
            raise ConfigError(f"variance_init must be > 0, got {variance_init!r}.")
        self.variance_init = float(variance_init)
        self.learn_variance = bool(learn_variance)
        self.variance_shape = variance_shape
        self._variable_shape = _PARAMETER_SHAPES.get(variance_shape, field="variance_shape")(
            self.event_shape
        )
        self._bijector = tfb.Softplus()
        self.build()

    def build(self, input_shape=None):
        def initializer(shape, dtype=None):
            return self._bijector.inverse(tf.fill(shape, tf.cast(self.variance_init, dtype)))

        self.unconstrained_variance = self.add_weight(
            name="unconstrained_variance",
            shape=self._variable_shape,
            initializer=initializer,
            trainable=self.learn_variance,
        )

    @property
    def variance(self):
        """The variance tensor, shape [] or event_shape."""
        return self._bijector.forward(tf.convert_to_tensor(self.unconstrained_variance))

    def _normal(self, loc):
        return tfd.Normal(loc=loc, scale=tf.sqrt(self.variance))

    def _log_prob_values(self, loc, x):
        return self._normal(loc).log_prob(x)

    def _mean(self, loc):
        return loc

    def _sample(self, loc, seed):
        scale = tf.broadcast_to(tf.sqrt(self.variance), tf.shape(loc))
        return tfd.Normal(loc=loc, scale=scale).sample(seed=seed)

    def get_config(self):
        config = super().get_config()
        config.update(
            variance_init=self.variance_init,
            learn_variance=self.learn_variance,
            variance_shape=self.variance_shape,
        )
        return config


# Likelihood class -> registered name, for error messages.
_REGISTERED_NAMES = {LIKELIHOODS.get(name): name for name in LIKELIHOODS.names()}
