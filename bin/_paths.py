"""Start-up shared by the binaries; imported first by each.

Puts the repository root on sys.path (so that `configs/` imports from any directory) and,
unless `--verbose` is given (or `TF_SMVAE_VERBOSE_ERRORS=1` is set), imports TensorFlow with
its native start-up log silenced: the oneDNN, CPU-instruction and CUDA lines, among them the
alarming `failed call to cuInit` of a CPU-only machine. Python warnings and errors still show;
if the import itself fails, the silenced log is printed before the exception.
"""

import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
BASE_CONFIG = os.path.join(ROOT, "configs", "base.py")
_VERBOSE_ARGS = ("--verbose", "-verbose", "--verbose=true", "--verbose=1", "--verbose=True")


def _verbose():
    if os.environ.get("TF_SMVAE_VERBOSE_ERRORS", "").strip().lower() in ("1", "true", "yes"):
        return True
    return any(argument in _VERBOSE_ARGS for argument in sys.argv[1:])


def _import_tensorflow_quietly():
    """Imports TensorFlow and finds its devices with file descriptor 2 sent to a file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA's probe logs here, not at import.
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.buffer.write(log.read())
            sys.stderr.flush()
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if not _verbose():
    _import_tensorflow_quietly()
