"""Pins Keras 3 to the TensorFlow backend before anything imports Keras."""

import os

_REQUIRED = "tensorflow"


def ensure_tensorflow_backend():
    """Sets `KERAS_BACKEND=tensorflow` unless Keras is already loaded with it.

    Raises:
      RuntimeError: if Keras was imported earlier with another backend.
    """
    import sys

    current = os.environ.get("KERAS_BACKEND")
    if "keras" in sys.modules:
        backend = sys.modules["keras"].backend.backend()
        if backend != _REQUIRED:
            raise RuntimeError(
                f"tf_smvae needs the Keras 'tensorflow' backend, but Keras was imported with "
                f"'{backend}'. Import tf_smvae before keras, or set KERAS_BACKEND=tensorflow."
            )
        return
    if current not in (None, "", _REQUIRED):
        raise RuntimeError(
            f"KERAS_BACKEND={current!r} is set; tf_smvae needs KERAS_BACKEND=tensorflow."
        )
    os.environ["KERAS_BACKEND"] = _REQUIRED


ensure_tensorflow_backend()
