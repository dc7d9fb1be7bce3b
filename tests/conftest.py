"""Test setup: CPU only, quiet TensorFlow logs, the TensorFlow Keras backend."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ["KERAS_BACKEND"] = "tensorflow"

import tf_smvae  # noqa: E402,F401
