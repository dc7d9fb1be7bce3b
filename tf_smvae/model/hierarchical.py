"""Top-down hierarchical VAEs, trained by the ELBO or with MCMC-refined samples.

The generative model is p(z_1) p(z_2|z_1) ... p(z_L|z_<L) p(x|z_L, d_L) and the
approximate posterior q(z_1|x) q(z_2|z_1, x) ... is generated in the same top-down order
(residual parameterisation). The model exposes the hooks of `VAE` over the concatenated
latent z = concat(z_1, ..., z_L) of dimension d = sum(n_l): `elbo_terms`, `log_joint`,
`encode`, `sample_posterior`, `decoder_params`, `prior_distribution`,
`importance_proposal`. The ELBO training of `VAE` and Algorithm 1 of `SpeedMeasureVAE`
therefore run unchanged; `SpeedMeasureHierarchicalVAE` is the composition of the two. The
MCMC state is z in the centred parameterisation and the target is
log p(x, z) = sum_l log p(z_l | z_<l) + log p(x | z).
"""

import keras
import tensorflow as tf

from tf_smvae import nn
from tf_smvae.model import hierarchical_distributions as distributions
from tf_smvae.model import hierarchical_layers
from tf_smvae.model import speed_measure_vae
from tf_smvae.model import vae as vae_lib
from tf_smvae.util import replicas
from tf_smvae.util.errors import ConfigError

__all__ = ["HierarchicalVAE", "SpeedMeasureHierarchicalVAE"]


@keras.saving.register_keras_serializable(package="tf_smvae")
class HierarchicalVAE(vae_lib.VAE):
    """Top-down hierarchical VAE with any number of stochastic layers, trained by the ELBO.

    Prior: d_1 learned, d_l = f_l(z_{l-1}, d_{l-1}) (+ d_{l-1}),
    p(z_l | z_<l) = N(mu_l(d_l), (s_min + sigma_l(d_l))^2); likelihood p(x | z_L, d_L)
    (d_L only with `residual`). Posterior (residual parameterisation):
    z_l = mu_l + sigma_l mu'_l(e_l, d_l) + sigma_l sigma'_l(e_l, d_l) eps, so that
    KL_l = 0.5 sum(mu'^2 + sigma'^2 - 1 - 2 log sigma') in closed form given z_<l.

    #### Examples

    ```python
    model = tf_smvae.HierarchicalVAE((28, 28, 1), latent_dims=(5, 10))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    model.fit(train, epochs=200)  # metrics: loss, elbo, reconstruction, kl, kl_1, kl_2
    ```

    #### References

    [1] Sonderby, C. K., Raiko, T., Maaloe, L., Sonderby, S. K. and Winther, O. Ladder
        variational autoencoders. NeurIPS 2016.
    [2] Vahdat, A. and Kautz, J. NVAE: A deep hierarchical variational autoencoder.
        NeurIPS 2020 (residual posterior).
    [3] Hirt, M., Kreouzis, V. and Dellaportas, P. Learning variational autoencoders via
        MCMC speed measures. Statistics and Computing, 2024, section 5.
    """

    def __init__(
        self,
        image_shape,
        latent_dims,
        feature_dim=64,
        block_units=(64,),
        residual=True,
        min_prior_scale=1e-3,
        prior="standard_normal",
        **kwargs,
    ):
        """Builds the model and all its weights.

        Args:
          image_shape: (height, width, channels) of one example.
          latent_dims: (n_1, ..., n_L), top layer first; d = sum(n_l).
          feature_dim: width of the deterministic features d_l and e_l.
          block_units: hidden widths of the small MLPs f_l, b_l and the heads.
          residual: residual skip d_l = d_{l-1} + f_l(...), and x depends on d_L too.
          min_prior_scale: s_min, the floor of every prior scale.
          prior: must be "standard_normal" (the hierarchy is the prior).
          **kwargs: `VAE` arguments (`network`, `likelihood`, `network_kwargs`,
            `likelihood_kwargs`, `analytic_kl`, `scale_fn`, `seed`, ...), and for the
            `SpeedMeasure*` subclasses their kernel arguments.

        Raises:
          ConfigError: for bad sizes or another prior.
        """
        if prior != "standard_normal":
            raise ConfigError(
                f"HierarchicalVAE has its own top-down prior; got prior={prior!r} (argument "
                "'prior'), leave it at 'standard_normal'."
            )
        self.latent_dims = hierarchical_layers.check_latent_dims(latent_dims)
        self.feature_dim = int(feature_dim)
        self.block_units = tuple(int(u) for u in block_units)
        self.residual = bool(residual)
        self.min_prior_scale = float(min_prior_scale)
        kwargs.pop("latent_dim", None)
        super().__init__(image_shape, sum(self.latent_dims), **kwargs)

    @property
    def num_layers(self):
        """L, the number of stochastic layers."""
        return len(self.latent_dims)

    # -- construction ------------------------------------------------------------------

    def _hierarchy_kwargs(self):
        return dict(
            feature_dim=self.feature_dim,
            block_units=self.block_units,
            scale_fn=self.scale_fn,
            seed=self.seed,
        )

    def _make_prior(self, prior):
        del prior
        return hierarchical_layers.TopDownPrior(
            self.latent_dims,
            residual=self.residual,
            min_prior_scale=self.min_prior_scale,
            **self._hierarchy_kwargs(),
        )

    def _make_encoder(self):
        return hierarchical_layers.BottomUpEncoder(
            self.image_shape,
            self.latent_dims,
            network=self._network,
            network_kwargs=self._network_kwargs,
            **self._hierarchy_kwargs(),
        )

    def _decoder_input_dim(self):
        return self.latent_dims[-1] + (self.feature_dim if self.residual else 0)

    def _make_decoder(self):
        return nn.make_decoder(
            self._network,
            self.image_shape,
            self._decoder_input_dim(),
            self.likelihood.num_params,
            **self._network_kwargs,
        )

    def _build_weights(self):
        x = tf.zeros((1,) + self.image_shape)
        z, _ = self.encode(x)
        self.likelihood.log_prob(self.decoder_params(z), x)
        self.built = True

    def _metric_names(self):
        return (*super()._metric_names(), *self.layer_kl_names())

    def layer_kl_names(self):
        """Names of the per-layer KL metrics: kl_1, ..., kl_L (top layer first)."""
        return tuple(f"kl_{index}" for index in range(1, self.num_layers + 1))

    def get_config(self):
        config = super().get_config()
        config.pop("latent_dim")
        config.pop("prior")
        config.update(
            latent_dims=list(self.latent_dims),
            feature_dim=self.feature_dim,
            block_units=list(self.block_units),
            residual=self.residual,
            min_prior_scale=self.min_prior_scale,
        )
        return config

    # -- the top-down pass ----------------------------------------------------------------

    def top_down(self, select, batch_shape, bottom_up=None):
        """Runs the layers top first; `select(index, layer)` returns z_l.

        Args:
          select: function of the layer index and a `TopDownLayer` whose `z` is None,
            returning z_l [*batch_shape, n_l].
          batch_shape: int32 leading shape of every z_l.
          bottom_up: the encoder's [e_1, ..., e_L] (posterior pass) or None (prior pass).

        Returns:
          A list of L `TopDownLayer`s.
        """
        layers = []
        features = self.prior.initial_features(batch_shape)
        for index in range(self.num_layers):
            if index:
                features = self.prior.features(index, layers[-1].z, features)
            prior_loc, prior_scale = self.prior.params(index, features)
            posterior = (None,) * 4
            if bottom_up is not None:
                residual_loc, residual_scale = self.encoder.posterior_params(
                    index, bottom_up[index], features
                )
                loc = prior_loc + prior_scale * residual_loc
                posterior = (loc, prior_scale * residual_scale, residual_loc, residual_scale)
            layer = distributions.TopDownLayer(None, features, prior_loc, prior_scale, *posterior)
            layers.append(layer._replace(z=select(index, layer)))
        return layers

    def top_down_given(self, z, bottom_up=None):
        """The top-down pass at given latents z [..., d] (split into the layers)."""
        parts = self.split(z)
        return self.top_down(lambda index, _: parts[index], tf.shape(z)[:-1], bottom_up)

    def split(self, z):
        """[z_1, ..., z_L] from z [..., d]."""
        return tf.split(tf.convert_to_tensor(z, self.compute_dtype), self.latent_dims, axis=-1)

    @staticmethod
    def concat(layers):
        """z = concat(z_1, ..., z_L) [..., d] from `TopDownLayer`s."""
        return tf.concat([layer.z for layer in layers], axis=-1)

    def _decoder_input(self, layers):
        bottom = layers[-1]
        if not self.residual:
            return bottom.z
        return tf.concat(hierarchical_layers.broadcast_leading([bottom.z, bottom.features]), -1)

    # -- the model's distributions (VAE hooks) ----------------------------------------------

    def encode(self, x):
        """The posterior means and scales along the mean path (eps = 0), each [B, d].

        A diagonal Gaussian summary of q(z|x) (scales conditional on z_<l); used for
        reconstructions, the `encode` endpoint and the MCMC importance proposal's widths.
        """
        x = tf.convert_to_tensor(x, self.compute_dtype)
        layers = self.top_down(
            lambda index, layer: layer.loc, tf.shape(x)[:1], self.encoder.bottom_up(x)
        )
        return self.concat(layers), tf.concat([layer.scale for layer in layers], -1)

    def posterior(self, x):
        """q(z|x) as a `TopDownDistribution` with batch [B]."""
        x = tf.convert_to_tensor(x, self.compute_dtype)
        return distributions.TopDownDistribution(self, self.encoder.bottom_up(x))

    def prior_distribution(self):
        """p(z) = prod_l p(z_l | z_<l) as a `TopDownDistribution`."""
        return distributions.TopDownDistribution(self)

    def sample_posterior(self, x, num_samples, seed):
        return self.posterior(x).sample(num_samples, seed=seed)

    def encoder_proposal(self, x, tau):
        """q(z|x) with every layer's variance multiplied by tau (sampled top-down)."""
        x = tf.convert_to_tensor(x, self.compute_dtype)
        factor = tf.sqrt(tf.cast(tau, self.compute_dtype))
        return distributions.TopDownDistribution(self, self.encoder.bottom_up(x), factor)

    def decoder_params(self, z):
        """Likelihood parameters for z [..., d]: the decoder at (z_L, d_L(z_<L))."""
        return self.decoder(self._decoder_input(self.top_down_given(z)))

    def log_joint(self, x, z):
        """sum_l log p(z_l | z_<l) + log p(x | z) for z [..., B, d] -> [..., B]."""
        layers = self.top_down_given(z)
        log_prior = tf.add_n(
            [
                distributions.normal_log_prob(layer.z, layer.prior_loc, layer.prior_scale)
                for layer in layers
            ]
        )
        params = self.decoder(self._decoder_input(layers))
        return self.likelihood.log_prob(params, x) + log_prior

    # -- training ------------------------------------------------------------------------

    def elbo_terms(self, x, seed):
        """ELBO terms at one top-down reparameterised draw.

        Returns:
          dict with `z` [B, d] (concatenated), `reconstruction` [B], `kl` [B] (sum over
          layers) and `layer_kl` [L, B].
        """
        x = tf.convert_to_tensor(x, self.compute_dtype)
        # Philox: see `distributions.standard_normal`; indexed by the example's place in
        # the global batch, so replicas draw the single-device noise.
        noise = replicas.batch_normal(
            tf.concat([tf.shape(x)[:1], [self.latent_dim]], 0), seed, x.dtype, alg="philox"
        )
        noise = tf.split(noise, self.latent_dims, axis=-1)
        layers = self.top_down(
            lambda index, layer: layer.loc + layer.scale * noise[index],
            tf.shape(x)[:1],
            self.encoder.bottom_up(x),
        )
        layer_kl = tf.stack([self._layer_kl(layer) for layer in layers])
        params = self.decoder(self._decoder_input(layers))
        return {
            "z": self.concat(layers),
            "reconstruction": self.likelihood.log_prob(params, x),
            "kl": tf.reduce_sum(layer_kl, 0),
            "layer_kl": layer_kl,
        }

    def _layer_kl(self, layer):
        """KL(q(z_l|z_<l, x) || p(z_l|z_<l)): closed form, or the one-sample estimate."""
        if self.analytic_kl:
            mu, sigma = layer.residual_loc, layer.residual_scale
            terms = tf.square(mu) + tf.square(sigma) - 1.0 - 2.0 * tf.math.log(sigma)
            return 0.5 * tf.reduce_sum(terms, -1)
        return distributions.normal_log_prob(
            layer.z, layer.loc, layer.scale
        ) - distributions.normal_log_prob(layer.z, layer.prior_loc, layer.prior_scale)

    def _elbo_loss(self, x, seed):
        loss, logs, terms = super()._elbo_loss(x, seed)
        layer_kl = tf.reduce_mean(terms["layer_kl"], axis=1)
        logs.update(zip(self.layer_kl_names(), tf.unstack(layer_kl)))
        return loss, logs, terms


@keras.saving.register_keras_serializable(package="tf_smvae")
class SpeedMeasureHierarchicalVAE(HierarchicalVAE):
    """`HierarchicalVAE` with an `MCMCRefinement`, built from keyword arguments.

    The same model as `HierarchicalVAE(..., refinement=MCMCRefinement(sum(latent_dims),
    ...))`: the chains run on z = concat(z_1, ..., z_L) with target log p(x, z), and the
    importance proposal is M chains from top-down posterior draws, r = N(mean of the
    chain ends, tau diag(scale^2)) with the `encode` scales.

    #### Examples

    ```python
    model = tf_smvae.SpeedMeasureHierarchicalVAE(
        (28, 28, 1), latent_dims=(5, 10), kernel="hmc", preconditioner="tril",
        num_steps=5, num_leapfrog_steps=2, mcmc_start_epoch=190)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  kernel_optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    model.fit(train, epochs=200)
    ```
    """

    def __init__(self, image_shape, latent_dims, refinement=None, **kwargs):
        """Args: as `HierarchicalVAE`, plus `refinement` or the refinement's arguments
        (see `SpeedMeasureVAE`)."""
        refinement = speed_measure_vae.refinement_from_options(refinement, kwargs)
        super().__init__(image_shape, latent_dims, refinement=refinement, **kwargs)
