"""`KernelParameters`: the learned step size h and preconditioner C, as a Keras layer."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_smvae.mcmc import _scale
from tf_smvae.util.errors import ConfigError
from tf_smvae.util.registry import Registry

tfb = tfp.bijectors

__all__ = [
    "PRECONDITIONERS",
    "STEP_SIZE_BIJECTORS",
    "KernelParameters",
]

PRECONDITIONERS = Registry("preconditioner")
STEP_SIZE_BIJECTORS = Registry("step size bijector")
STEP_SIZE_BIJECTORS.register("softplus")(tfb.Softplus)
STEP_SIZE_BIJECTORS.register("exp")(tfb.Exp)


def _uncached(unconstrained):
    """A copy of `unconstrained` that no bijector cache knows.

    TFP bijectors cache results across instances with equal parameters: `forward` of a
    tensor that was already passed to (or returned by) a bijector gives back the cached
    value, which a `GradientTape` opened in between cannot differentiate. Every `forward`
    and `inverse` here works on a fresh copy so that gradients always reach `u`.
    """
    return tf.identity(unconstrained)


@PRECONDITIONERS.register("identity")
class _IdentityPreconditioner:
    """C = I; `scale_tril` is `None`."""

    @staticmethod
    def num_unconstrained(num_dims):
        return 0

    @staticmethod
    def initial_unconstrained(num_dims, init_scale, dtype):
        return None

    @staticmethod
    def forward(unconstrained):
        return None

    @staticmethod
    def from_dense(scale_tril):
        return tf.zeros([0], scale_tril.dtype)


@PRECONDITIONERS.register("diag")
class _DiagPreconditioner:
    """C = diag(softplus(u)); `scale_tril` is the `[d]` diagonal."""

    @staticmethod
    def num_unconstrained(num_dims):
        return num_dims

    @staticmethod
    def initial_unconstrained(num_dims, init_scale, dtype):
        return _uncached(tfb.Softplus().inverse(tf.fill([num_dims], tf.cast(init_scale, dtype))))

    @staticmethod
    def forward(unconstrained):
        return tfb.Softplus().forward(_uncached(unconstrained))

    @staticmethod
    def from_dense(scale_tril):
        """The unconstrained vector of diag(C) for a dense `[d, d]` C."""
        return _uncached(tfb.Softplus().inverse(tf.linalg.diag_part(scale_tril)))


@PRECONDITIONERS.register("tril")
class _TrilPreconditioner:
    """C = FillScaleTriL(u): lower triangular, softplus diagonal; `scale_tril` is `[d, d]`."""

    @staticmethod
    def num_unconstrained(num_dims):
        return num_dims * (num_dims + 1) // 2

    @staticmethod
    def initial_unconstrained(num_dims, init_scale, dtype):
        bijector = tfb.FillScaleTriL(diag_shift=tf.constant(1e-5, dtype))
        return _uncached(
            bijector.inverse(tf.cast(init_scale, dtype) * tf.eye(num_dims, dtype=dtype))
        )

    @staticmethod
    def forward(unconstrained):
        return tfb.FillScaleTriL(diag_shift=tf.constant(1e-5, unconstrained.dtype)).forward(
            _uncached(unconstrained)
        )

    @staticmethod
    def from_dense(scale_tril):
        """The unconstrained vector of a dense lower-triangular `[d, d]` C."""
        bijector = tfb.FillScaleTriL(diag_shift=tf.constant(1e-5, scale_tril.dtype))
        return _uncached(bijector.inverse(scale_tril))


@keras.saving.register_keras_serializable(package="tf_smvae")
class KernelParameters(keras.layers.Layer):
    """Learned step size h and preconditioner C shared by all chains.

    Both are unconstrained variables mapped through bijectors (h by softplus or exp; C by
    `identity`, `diag` (softplus diagonal) or `tril` (`tfb.FillScaleTriL`)), initialised
    through `bijector.inverse` so that h = `init_step_size` and C = `init_scale` * I.

    `scale_tril` is the compact form the kernels accept: `None` for `identity`, the `[d]`
    diagonal for `diag`, the `[d, d]` lower-triangular matrix for `tril`; `dense_scale_tril()`
    is always `[d, d]`.

    #### Examples

    ```python
    params = tf_smvae.mcmc.KernelParameters(10, preconditioner="tril", init_step_size=0.5)
    kernel = tf_smvae.mcmc.PreconditionedMALA(target_fn, params.step_size, params.scale_tril)
    ```
    """

    def __init__(
        self,
        num_dims,
        preconditioner="tril",
        init_step_size=0.1,
        init_scale=1.0,
        step_size_bijector="softplus",
        **kwargs,
    ):
        """Creates the variables.

        Args:
          num_dims: latent dimension d (Python int >= 1).
          preconditioner: `identity`, `diag` or `tril` (see `PRECONDITIONERS`).
          init_step_size: initial h > 0.
          init_scale: initial C = init_scale * I (> 0; ignored by `identity`).
          step_size_bijector: `softplus` or `exp`.
          **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

        Raises:
          ConfigError: for an unknown name or a non-positive value.
        """
        super().__init__(**kwargs)
        if int(num_dims) < 1 or init_step_size <= 0.0 or init_scale <= 0.0:
            raise ConfigError(
                "KernelParameters needs num_dims >= 1, init_step_size > 0 and init_scale > 0; "
                f"got {num_dims}, {init_step_size}, {init_scale}."
            )
        self.num_dims = int(num_dims)
        self.preconditioner = preconditioner
        self.init_step_size = float(init_step_size)
        self.init_scale = float(init_scale)
        self.step_size_bijector = step_size_bijector
        self._preconditioner = PRECONDITIONERS.get(preconditioner, field="preconditioner")
        self._step_bijector = STEP_SIZE_BIJECTORS.get(step_size_bijector, "step_size_bijector")()
        self.unconstrained_step_size = self.add_weight(
            shape=(),
            initializer=lambda shape, dtype: self._step_bijector.inverse(
                tf.cast(self.init_step_size, dtype)
            ),
            name="unconstrained_step_size",
        )
        self.unconstrained_scale = None
        if self._preconditioner.num_unconstrained(self.num_dims):
            self.unconstrained_scale = self.add_weight(
                shape=(self._preconditioner.num_unconstrained(self.num_dims),),
                initializer=lambda shape, dtype: self._preconditioner.initial_unconstrained(
                    self.num_dims, self.init_scale, dtype
                ),
                name="unconstrained_scale",
            )
        self.built = True

    @property
    def step_size(self):
        """Scalar step size h."""
        return self._step_bijector.forward(tf.convert_to_tensor(self.unconstrained_step_size))

    @property
    def scale_tril(self):
        """C in compact form: `None` (identity), `[d]` (diag) or `[d, d]` (tril)."""
        if self.unconstrained_scale is None:
            return None
        return self._preconditioner.forward(tf.convert_to_tensor(self.unconstrained_scale))

    def dense_scale_tril(self):
        """Returns C as a dense `[d, d]` matrix."""
        return _scale.to_dense(self.scale_tril, self.num_dims, self.compute_dtype)

    @property
    def log_det_scale(self):
        """log|det C| = sum log diag(C)."""
        return _scale.log_det(self.scale_tril, self.compute_dtype)

    @property
    def log_det_hc(self):
        """log|det(hC)| = d log h + sum log diag(C)."""
        return self.num_dims * tf.math.log(self.step_size) + self.log_det_scale

    def assign(self, step_size=None, scale_diag=None):
        """Sets h and/or C = diag(`scale_diag`) (through the bijectors' inverses).

        Args:
          step_size: scalar h > 0, or None to keep h.
          scale_diag: `[d]` positive diagonal of C, or None to keep C (ignored by
            `identity`; for `tril` the off-diagonal entries become 0).
        """
        if step_size is not None:
            value = tf.cast(step_size, self.unconstrained_step_size.dtype)
            self.unconstrained_step_size.assign(self._step_bijector.inverse(value))
        if scale_diag is not None and self.unconstrained_scale is not None:
            dense = tf.linalg.diag(tf.cast(scale_diag, self.unconstrained_scale.dtype))
            self.unconstrained_scale.assign(self._preconditioner.from_dense(dense))

    def call(self, inputs=None):
        """Returns `(step_size, dense_scale_tril)`; `inputs` is ignored."""
        del inputs
        return self.step_size, self.dense_scale_tril()

    def get_config(self):
        config = super().get_config()
        config.update(
            num_dims=self.num_dims,
            preconditioner=self.preconditioner,
            init_step_size=self.init_step_size,
            init_scale=self.init_scale,
            step_size_bijector=self.step_size_bijector,
        )
        return config
