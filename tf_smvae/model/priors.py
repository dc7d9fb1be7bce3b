"""Priors p(z): standard normal, trainable mixture of Gaussians, VampPrior.

Each prior is a Keras layer holding its trainable parameters; `distribution(encoder=None)`
builds a fresh `tfd` distribution with batch shape [] and event shape [latent_dim] from the
current parameter values (so gradients flow to them), e.g. `prior.distribution().log_prob(z)`
for z [..., d] gives [...].
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry
from tf_smvae.util.seeds import as_seed

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = [
    "PRIORS",
    "MixtureOfGaussiansPrior",
    "StandardNormalPrior",
    "VampPrior",
    "make_prior",
]

PRIORS = Registry("prior")


def make_prior(name, latent_dim, input_shape=None, **kwargs):
    """Builds the prior registered as `name`.

    Args:
      name: "standard_normal", "mog" or "vamp".
      latent_dim: d, the dimension of z.
      input_shape: shape of one data example; used by "vamp" only, ignored by the others.
      **kwargs: further constructor arguments of that prior.

    Returns:
      A built prior layer.

    Raises:
      ConfigError: unknown `name` (the message lists the known ones) or bad arguments.
    """
    prior_cls = PRIORS.get(name, field="prior")
    return prior_cls.from_spec(latent_dim=latent_dim, input_shape=input_shape, **kwargs)


def _check_positive_int(value, field):
    if int(value) != value or value < 1:
        raise ConfigError(f"{field} must be a positive int, got {value!r}.")
    return int(value)


class _Prior(keras.layers.Layer):
    """Base class: latent_dim, log_prob/sample conveniences, no analytic KL."""

    has_analytic_kl = False

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = _check_positive_int(latent_dim, "latent_dim")

    @classmethod
    def from_spec(cls, latent_dim, input_shape=None, **kwargs):
        """Constructor used by `make_prior`; priors that need no input_shape drop it."""
        del input_shape
        return cls(latent_dim=latent_dim, **kwargs)

    def build(self, input_shape=None):
        """Creates no variables; priors with parameters override it."""

    def distribution(self, encoder=None):
        """The prior as a `tfd` distribution, batch shape [], event shape [latent_dim]."""
        raise NotImplementedError

    def log_prob(self, z, encoder=None):
        """log p(z) for z [..., latent_dim]; returns [...]."""
        return self.distribution(encoder).log_prob(z)

    def sample(self, num_samples, seed, encoder=None):
        """Draws `num_samples` z [num_samples, latent_dim] with a stateless `seed`."""
        return self.distribution(encoder).sample(num_samples, seed=as_seed(seed))

    def kl_divergence(self, loc, scale):
        """Analytic KL(N(loc, diag(scale^2)) || p); only priors with `has_analytic_kl`.

        Raises:
          NotImplementedError: the prior has no closed-form KL (estimate it by sampling).
        """
        del loc, scale
        raise NotImplementedError(
            f"{type(self).__name__} has no analytic KL divergence; use a Monte-Carlo estimate "
            "log q(z|x) - log p(z) instead (check `has_analytic_kl`)."
        )

    def call(self, z, encoder=None):
        """Same as `log_prob(z, encoder)`."""
        return self.log_prob(z, encoder)

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim)
        return config


@PRIORS.register("standard_normal")
@keras.saving.register_keras_serializable(package="tf_smvae")
class StandardNormalPrior(_Prior):
    """p(z) = N(0, I_d), with the closed-form KL from a diagonal Gaussian."""

    has_analytic_kl = True

    def __init__(self, latent_dim, **kwargs):
        """Creates the prior.

        Args:
          latent_dim: d, the dimension of z.
          **kwargs: passed to `keras.layers.Layer`.
        """
        super().__init__(latent_dim, **kwargs)
        self.build()

    def distribution(self, encoder=None):
        """N(0, I_d); `encoder` is ignored."""
        del encoder
        zeros = tf.zeros([self.latent_dim], self.compute_dtype)
        return tfd.MultivariateNormalDiag(loc=zeros, scale_diag=tf.ones_like(zeros))

    def kl_divergence(self, loc, scale):
        """KL(N(loc, diag(scale^2)) || N(0, I)) = 0.5 sum(loc^2 + scale^2 - 1 - 2 log scale).

        Args:
          loc: [..., d].
          scale: [..., d], positive.

        Returns:
          Tensor [...].
        """
        terms = tf.square(loc) + tf.square(scale) - 1.0 - 2.0 * tf.math.log(scale)
        return 0.5 * tf.reduce_sum(terms, axis=-1)


@PRIORS.register("mog")
@keras.saving.register_keras_serializable(package="tf_smvae")
class MixtureOfGaussiansPrior(_Prior):
    """p(z) = sum_k w_k N(z; mu_k, diag(sigma_k^2)), all parameters trainable.

    w = softmax(mixture_logits) (initialised uniform), mu_k ~ N(0, loc_init_stddev^2) drawn
    with a fixed `seed`, sigma_k = softplus(u_k) with u_k initialised to the inverse softplus
    of `scale_init`.

    #### References

    [1]: Nat Dilokthanakul et al. Deep Unsupervised Clustering with Gaussian Mixture
         Variational Autoencoders. 2016. https://arxiv.org/abs/1611.02648
    """

    def __init__(
        self, latent_dim, num_components=10, loc_init_stddev=1.0, scale_init=1.0, seed=0, **kwargs
    ):
        """Creates the prior and its variables.

        Args:
          latent_dim: d, the dimension of z.
          num_components: K, the number of mixture components.
          loc_init_stddev: standard deviation of the random initial component means.
          scale_init: initial component standard deviation (> 0).
          seed: int seeding the initial component means.
          **kwargs: passed to `keras.layers.Layer`.

        Raises:
          ConfigError: a non-positive num_components or scale_init.
        """
        super().__init__(latent_dim, **kwargs)
        self.num_components = _check_positive_int(num_components, "num_components")
        if not scale_init > 0.0:
            raise ConfigError(f"scale_init must be > 0, got {scale_init!r}.")
        self.loc_init_stddev = float(loc_init_stddev)
        self.scale_init = float(scale_init)
        self.seed = int(seed)
        self._bijector = tfb.Softplus()
        self.build()

    def build(self, input_shape=None):
        shape = (self.num_components, self.latent_dim)

        def scale_initializer(shape, dtype=None):
            return self._bijector.inverse(tf.fill(shape, tf.cast(self.scale_init, dtype)))

        self.mixture_logits = self.add_weight(
            name="mixture_logits", shape=(self.num_components,), initializer="zeros"
        )
        self.locs = self.add_weight(
            name="locs",
            shape=shape,
            initializer=keras.initializers.RandomNormal(
                stddev=self.loc_init_stddev, seed=self.seed
            ),
        )
        self.unconstrained_scales = self.add_weight(
            name="unconstrained_scales", shape=shape, initializer=scale_initializer
        )

    @property
    def scales(self):
        """Component standard deviations [num_components, latent_dim]."""
        return self._bijector.forward(tf.convert_to_tensor(self.unconstrained_scales))

    def distribution(self, encoder=None):
        """The mixture at the current parameters; `encoder` is ignored."""
        del encoder
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.convert_to_tensor(self.mixture_logits)),
            components_distribution=tfd.MultivariateNormalDiag(
                loc=tf.convert_to_tensor(self.locs), scale_diag=self.scales
            ),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            num_components=self.num_components,
            loc_init_stddev=self.loc_init_stddev,
            scale_init=self.scale_init,
            seed=self.seed,
        )
        return config


@PRIORS.register("vamp")
@keras.saving.register_keras_serializable(package="tf_smvae")
class VampPrior(_Prior):
    """VampPrior: p(z) = (1/K) sum_k q(z | u_k), the encoder's posteriors at pseudo-inputs.

    The pseudo-inputs u_k = sigmoid(v_k) stay in (0, 1) through a sigmoid of unconstrained
    variables v_k [K, *input_shape], initialised so that u_k is uniform-ish in
    `pseudo_input_range`. The mixture weights are uniform and fixed. The components are
    recomputed from the CURRENT encoder at every `distribution(encoder)` call, so the prior
    follows the encoder during training and gradients reach both v and the encoder weights.

    #### References

    [1]: Jakub M. Tomczak, Max Welling. VAE with a VampPrior. AISTATS 2018.
         https://arxiv.org/abs/1705.07120
    """

    def __init__(
        self,
        latent_dim,
        input_shape,
        num_components=500,
        pseudo_input_range=(0.4, 0.6),
        seed=0,
        **kwargs,
    ):
        """Creates the prior and its pseudo-input variables.

        Args:
          latent_dim: d, the dimension of z (must match the encoder's).
          input_shape: shape of one data example, e.g. (28, 28, 1).
          num_components: K, the number of pseudo-inputs (500 in [1] for MNIST-like data).
          pseudo_input_range: (low, high) in (0, 1) of the initial pseudo-input values.
          seed: int seeding the initial pseudo-inputs.
          **kwargs: passed to `keras.layers.Layer`.

        Raises:
          ConfigError: a bad input_shape, num_components or pseudo_input_range.
        """
        super().__init__(latent_dim, **kwargs)
        if input_shape is None:
            raise ConfigError("prior 'vamp' needs input_shape, the shape of one data example.")
        self.event_shape = tuple(_check_positive_int(s, "input_shape") for s in input_shape)
        self.num_components = _check_positive_int(num_components, "num_components")
        low, high = (float(v) for v in pseudo_input_range)
        if not 0.0 < low < high < 1.0:
            raise ConfigError(
                f"pseudo_input_range must satisfy 0 < low < high < 1, got {pseudo_input_range}."
            )
        self.pseudo_input_range = (low, high)
        self.seed = int(seed)
        self._bijector = tfb.Sigmoid()
        self.build()

    @classmethod
    def from_spec(cls, latent_dim, input_shape=None, **kwargs):
        return cls(latent_dim=latent_dim, input_shape=input_shape, **kwargs)

    def build(self, input_shape=None):
        low, high = self.pseudo_input_range
        self.unconstrained_pseudo_inputs = self.add_weight(
            name="unconstrained_pseudo_inputs",
            shape=(self.num_components, *self.event_shape),
            initializer=keras.initializers.RandomUniform(
                minval=math.log(low / (1.0 - low)),
                maxval=math.log(high / (1.0 - high)),
                seed=self.seed,
            ),
        )

    @property
    def pseudo_inputs(self):
        """The pseudo-inputs sigmoid(v) [num_components, *input_shape], in (0, 1)."""
        return self._bijector.forward(tf.convert_to_tensor(self.unconstrained_pseudo_inputs))

    def assign_pseudo_inputs(self, x, margin=0.01):
        """Sets the pseudo-inputs to data, e.g. a random training batch.

        Args:
          x: [num_components, *input_shape] values in [0, 1]; mapped affinely into
            [margin, 1 - margin] (binary data would otherwise need infinite v).
          margin: in (0, 0.5).
        """
        x = tf.convert_to_tensor(x, self.unconstrained_pseudo_inputs.dtype)
        squeezed = margin + (1.0 - 2.0 * margin) * x
        self.unconstrained_pseudo_inputs.assign(self._bijector.inverse(squeezed))

    def distribution(self, encoder=None):
        """The mixture of the encoder's posteriors at the current pseudo-inputs.

        Args:
          encoder: callable x [K, *input_shape] -> (loc [K, d], scale [K, d]), normally the
            model's current encoder layer.

        Returns:
          `tfd.MixtureSameFamily` of K `MultivariateNormalDiag`s with uniform weights.

        Raises:
          ValueError: `encoder` is None.
        """
        if encoder is None:
            raise ValueError(
                "VampPrior.distribution(encoder) needs the current encoder: its components "
                "are the encoder's posteriors at the pseudo-inputs, recomputed at every call."
            )
        loc, scale = encoder(self.pseudo_inputs)
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.num_components], loc.dtype)),
            components_distribution=tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            input_shape=list(self.event_shape),
            num_components=self.num_components,
            pseudo_input_range=list(self.pseudo_input_range),
            seed=self.seed,
        )
        return config
