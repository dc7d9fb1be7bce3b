"""Linear algebra with the preconditioner C, dispatched on its static rank.

`scale_tril` is one of:

- `None`: C is the identity;
- a `[d]` tensor: C = diag(scale_tril), entries positive;
- a `[..., d, d]` tensor: C is lower triangular with a positive diagonal.

States are `[..., d]`; every function broadcasts over leading dimensions. The
dispatch uses only static ranks, so it is XLA-safe.

A single `[d, d]` C shared by every chain is applied to the `[..., d]` states as one
`[n, d] x [d, d]` matrix product (one triangular solve with n right-hand sides), not as n
broadcast matrix-vector products: `tf.linalg.matvec` would broadcast C to `[n, d, d]`,
which at d = 150 and 1000 chains made the `tril` rows 8x slower than `diag` (BUILD_NOTES).
"""

import tensorflow as tf


def _kind(scale_tril):
    if scale_tril is None:
        return "identity"
    rank = scale_tril.shape.rank
    if rank is None:
        raise ValueError("`scale_tril` must have a static rank (1: diagonal, 2: lower triangular).")
    return "diag" if rank == 1 else "tril"


def _shared(scale_tril):
    """True when C is one `[d, d]` matrix for every chain."""
    return scale_tril.shape.rank == 2


def _rows(x, fn):
    """Applies `fn` to `x` reshaped to `[n, d]` and restores the shape of `x`."""
    flat = tf.reshape(x, [-1, tf.shape(x)[-1]])
    return tf.reshape(fn(flat), tf.shape(x))


def matvec(scale_tril, x):
    """Returns C x for a state `x` of shape `[..., d]`."""
    kind = _kind(scale_tril)
    if kind == "identity":
        return x
    if kind == "diag":
        return scale_tril * x
    if _shared(scale_tril):
        return _rows(x, lambda rows: tf.linalg.matmul(rows, scale_tril, transpose_b=True))
    return tf.linalg.matvec(scale_tril, x)


def matvec_transpose(scale_tril, x):
    """Returns C^T x for a state `x` of shape `[..., d]`."""
    kind = _kind(scale_tril)
    if kind == "identity":
        return x
    if kind == "diag":
        return scale_tril * x
    if _shared(scale_tril):
        return _rows(x, lambda rows: tf.linalg.matmul(rows, scale_tril))
    return tf.linalg.matvec(scale_tril, x, transpose_a=True)


def precondition(scale_tril, x):
    """Returns C C^T x, the inverse mass matrix applied to `x`."""
    return matvec(scale_tril, matvec_transpose(scale_tril, x))


def _triangular_solve(scale_tril, x, adjoint):
    """Returns C^{-1} x (`adjoint=False`) or C^{-T} x (`adjoint=True`) for a tril C."""
    if _shared(scale_tril):
        # One solve with n right-hand sides: C Y^T = X^T (or C^T Y^T = X^T) for the rows Y.
        return _rows(
            x,
            lambda rows: tf.transpose(
                tf.linalg.triangular_solve(
                    scale_tril, tf.transpose(rows), lower=True, adjoint=adjoint
                )
            ),
        )
    matrix = tf.broadcast_to(
        scale_tril, tf.concat([tf.shape(x)[:-1], tf.shape(scale_tril)[-2:]], 0)
    )
    return tf.linalg.triangular_solve(matrix, x[..., tf.newaxis], lower=True, adjoint=adjoint)[
        ..., 0
    ]


def solve_transpose(scale_tril, x):
    """Returns C^{-T} x (the momentum p = C^{-T} v of a whitened draw v)."""
    kind = _kind(scale_tril)
    if kind == "identity":
        return x
    if kind == "diag":
        return x / scale_tril
    return _triangular_solve(scale_tril, x, adjoint=True)


def solve(scale_tril, x):
    """Returns C^{-1} x, a displacement `x` `[..., d]` in the whitened coordinates of C."""
    kind = _kind(scale_tril)
    if kind == "identity":
        return x
    if kind == "diag":
        return x / scale_tril
    return _triangular_solve(scale_tril, x, adjoint=False)


def log_det(scale_tril, dtype=tf.float32):
    """Returns log|det C| = sum log diag(C) (0 for the identity)."""
    kind = _kind(scale_tril)
    if kind == "identity":
        return tf.zeros([], dtype)
    if kind == "diag":
        return tf.reduce_sum(tf.math.log(scale_tril), axis=-1)
    return tf.reduce_sum(tf.math.log(tf.linalg.diag_part(scale_tril)), axis=-1)


def to_dense(scale_tril, num_dims, dtype=tf.float32):
    """Returns C as a dense `[..., d, d]` lower-triangular matrix."""
    kind = _kind(scale_tril)
    if kind == "identity":
        return tf.eye(num_dims, dtype=dtype)
    if kind == "diag":
        return tf.linalg.diag(scale_tril)
    return scale_tril


def quadratic_form_matrix(scale_tril, matrix):
    """Returns C^T A C for a symmetric `[..., d, d]` matrix A."""
    kind = _kind(scale_tril)
    if kind == "identity":
        return matrix
    if kind == "diag":
        return scale_tril[..., :, tf.newaxis] * matrix * scale_tril[..., tf.newaxis, :]
    return tf.linalg.matmul(scale_tril, tf.linalg.matmul(matrix, scale_tril), transpose_a=True)
