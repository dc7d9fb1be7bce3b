"""SavedModel export with several endpoints, usable without importing tf_smvae.

Endpoints (all take and return tensors):
  sample(num int32 [], seed int32 [2])                 -> images [num, H, W, C]
  encode(x float32 [B, H, W, C])                       -> {"loc": [B, d], "scale": [B, d]}
  decode(z float32 [B, d])                             -> images [B, H, W, C]
  reconstruct(x float32 [B, H, W, C])                  -> images [B, H, W, C]
  log_likelihood(x, num_samples int32 [], seed int32 [2])
                                                       -> {"log_likelihood": [B], "ess": [B]}
Models with a learned MCMC kernel (a `refinement`) add
  refine(x, num_steps int32 [], seed int32 [2])       -> latents [B, d]
(MCMC-refined posterior samples with the learned kernel, which is not adapted).
"""

import os
import re
import shutil

import keras
import tensorflow as tf

from tf_smvae.evaluation.log_likelihood import batch_log_likelihood

__all__ = ["ENDPOINTS", "export_saved_model"]

ENDPOINTS = ("sample", "encode", "decode", "reconstruct", "log_likelihood")


def _spec(endpoint, arg, shape, dtype):
    """The input spec of `arg` of `endpoint`, named `{endpoint}_{arg}`.

    A call with the wrong shape or dtype fails in TensorFlow's argument binding with a
    message quoting this spec, so the name says which endpoint and which argument.
    """
    return tf.TensorSpec(shape, dtype, name=f"{endpoint}_{arg}")


def _at_least(value, minimum, endpoint, arg):
    """`value` (a scalar int32 tensor) after an in-graph check that it is >= `minimum`."""
    check = tf.debugging.assert_greater_equal(
        value, tf.constant(minimum, value.dtype), message=f"{endpoint}: {arg} must be >= {minimum}"
    )
    with tf.control_dependencies([check]):
        return tf.identity(value)


def _endpoints(model, tau, chunk_size):
    """name -> (function, input signature) of the standard endpoints.

    Image inputs carry the exact image shape [None, H, W, C] (float32), latents [None, d],
    seeds int32 [2]; counts are checked in the graph (`num` >= 0, `num_samples` >= 1,
    `num_steps` >= 0) so a bad count fails with a message naming the endpoint instead of
    returning NaN.
    """

    def images(endpoint):
        return _spec(endpoint, "x", (None,) + tuple(model.image_shape), tf.float32)

    def seed(endpoint):
        return _spec(endpoint, "seed", (2,), tf.int32)

    def count(endpoint, arg):
        return _spec(endpoint, arg, (), tf.int32)

    def sample(num, seed):
        return model.sample(_at_least(num, 0, "sample", "num"), seed)

    def encode(x):
        loc, scale = model.encode(x)
        return {"loc": loc, "scale": scale}

    def log_likelihood(x, num_samples, seed):
        num_samples = _at_least(num_samples, 1, "log_likelihood", "num_samples")
        log_px, ess = batch_log_likelihood(model, x, num_samples, tau, chunk_size, seed)
        return {"log_likelihood": log_px, "ess": ess}

    endpoints = {
        "sample": (sample, [count("sample", "num"), seed("sample")]),
        "encode": (encode, [images("encode")]),
        "decode": (
            model.decode,
            [_spec("decode", "z", (None, model.latent_dim), tf.float32)],
        ),
        "reconstruct": (model.reconstruct, [images("reconstruct")]),
        "log_likelihood": (
            log_likelihood,
            [
                images("log_likelihood"),
                count("log_likelihood", "num_samples"),
                seed("log_likelihood"),
            ],
        ),
    }
    if getattr(model, "refinement", None) is not None:

        def refine(x, num_steps, seed):
            return model.refine(x, _at_least(num_steps, 0, "refine", "num_steps"), seed)

        endpoints["refine"] = (
            refine,
            [images("refine"), count("refine", "num_steps"), seed("refine")],
        )
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
    _remove_stale_temporaries(path)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive.write_out(tmp, verbose=False)
        _replace_directory(tmp, path)
    finally:
        # After a failed write or rename nothing partial stays: `path` is the old export
        # (or absent) and the temporary is gone.
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _replace_directory(source, destination):
    """Renames `source` to `destination`, moving an existing one aside first.

    If the final rename fails, the previous export is moved back into place.
    """
    old = f"{destination}.old-{os.getpid()}"
    had_old = os.path.exists(destination)
    if had_old:
        os.replace(destination, old)
    try:
        os.replace(source, destination)
    except OSError:
        if had_old:
            os.replace(old, destination)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temporaries(path):
    """Removes `.NAME.tmp-PID` / `NAME.old-PID` siblings of `path` left by dead processes."""
    parent, name = os.path.split(path)
    for entry in os.listdir(parent):
        match = re.fullmatch(rf"\.{re.escape(name)}\.tmp-(\d+)|{re.escape(name)}\.old-(\d+)", entry)
        if match and not _process_alive(int(match.group(1) or match.group(2))):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _process_alive(pid):
    """Whether a process `pid` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
