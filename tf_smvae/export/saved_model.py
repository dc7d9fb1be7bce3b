"""SavedModel export with several endpoints, usable without importing tf_smvae.

Endpoints (all take and return tensors):
  sample(num int32 [], seed int32 [2])                 -> images [num, H, W, C]
  encode(x float32 [B, H, W, C])                       -> {"loc": [B, d], "scale": [B, d]}
  decode(z float32 [B, d])                             -> images [B, H, W, C]
  reconstruct(x float32 [B, H, W, C])                  -> images [B, H, W, C]
  log_likelihood(x, num_samples int32 [], seed int32 [2])
                                                       -> {"log_likelihood": [B], "ess": [B]}
Models with a learned MCMC kernel (`SpeedMeasureVAE`) add
  refine(x, num_steps int32 [], seed int32 [2])       -> latents [B, d]
(MCMC-refined posterior samples with the learned kernel, which is not adapted).
"""

import os
import shutil

import keras
import tensorflow as tf

from tf_smvae.evaluation.log_likelihood import batch_log_likelihood

__all__ = ["ENDPOINTS", "export_saved_model"]

ENDPOINTS = ("sample", "encode", "decode", "reconstruct", "log_likelihood")


def _endpoints(model, tau, chunk_size):
    """name -> (function, input signature) of the standard endpoints."""
    image_spec = tf.TensorSpec((None,) + model.image_shape, tf.float32, name="x")
    latent_spec = tf.TensorSpec((None, model.latent_dim), tf.float32, name="z")
    seed_spec = tf.TensorSpec((2,), tf.int32, name="seed")
    count_spec = tf.TensorSpec((), tf.int32, name="num")
    samples_spec = tf.TensorSpec((), tf.int32, name="num_samples")

    def encode(x):
        loc, scale = model.encode(x)
        return {"loc": loc, "scale": scale}

    def log_likelihood(x, num_samples, seed):
        log_px, ess = batch_log_likelihood(model, x, num_samples, tau, chunk_size, seed)
        return {"log_likelihood": log_px, "ess": ess}

    endpoints = {
        "sample": (lambda num, seed: model.sample(num, seed), [count_spec, seed_spec]),
        "encode": (encode, [image_spec]),
        "decode": (model.decode, [latent_spec]),
        "reconstruct": (model.reconstruct, [image_spec]),
        "log_likelihood": (log_likelihood, [image_spec, samples_spec, seed_spec]),
    }
    if hasattr(model, "refine"):
        steps_spec = tf.TensorSpec((), tf.int32, name="num_steps")
        endpoints["refine"] = (model.refine, [image_spec, steps_spec, seed_spec])
    return endpoints


def export_saved_model(model, path, tau=1.5, chunk_size=100, extra_endpoints=None):
    """Writes `model` as a SavedModel at `path`, atomically.

    The directory is written under a temporary name and renamed into place, so an
    interrupted export never leaves a partial SavedModel at `path`; an existing export
    there is replaced.

    Args:
      model: a `tf_smvae.VAE` or subclass.
      path: destination directory.
      tau: variance inflation of the `log_likelihood` endpoint's proposal.
      chunk_size: particles per chunk in the `log_likelihood` endpoint.
      extra_endpoints: optional dict name -> (function, input signature list).

    Returns:
      `path`.

    #### Examples

    ```python
    loaded = tf.saved_model.load(path)  # no tf_smvae import needed
    images = loaded.sample(tf.constant(16), tf.constant([0, 1]))
    ```
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    endpoints = _endpoints(model, tau, chunk_size)
    endpoints.update(extra_endpoints or {})
    for name, (function, signature) in endpoints.items():
        archive.add_endpoint(name, function, input_signature=signature)
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write_out(tmp, verbose=False)
    _replace_directory(tmp, path)
    return path


def _replace_directory(source, destination):
    """Renames `source` to `destination`, moving an existing one aside first."""
    old = f"{destination}.old-{os.getpid()}"
    if os.path.exists(destination):
        os.replace(destination, old)
    os.replace(source, destination)
    shutil.rmtree(old, ignore_errors=True)
