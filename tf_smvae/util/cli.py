"""`run(main)`: absl's `app.run` printing user errors as one line instead of a traceback.

A binary's `main` raises `ConfigError`, `DataError`, `ValueError`, `FileNotFoundError` (or
`FloatingPointError` for a diverged run) for bad flags, configs, data or files; their
messages name the bad flag, field or file. `run` prints such an error as

    error: <message>

on stderr and exits with status 2, so the message is not buried under a TensorFlow stack
trace. `--verbose_errors` (or the environment variable `TF_SMVAE_VERBOSE_ERRORS=1`) re-raises
instead, showing the full traceback for debugging. Any other exception (a bug) keeps its
traceback.
"""

import os
import sys

from absl import app
from absl import flags

__all__ = ["EXIT_USER_ERROR", "USER_ERRORS", "VERBOSE_ENV", "run"]

EXIT_USER_ERROR = 2
VERBOSE_ENV = "TF_SMVAE_VERBOSE_ERRORS"
# ConfigError and DataError are ValueErrors.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FloatingPointError)

flags.DEFINE_bool(
    "verbose_errors",
    False,
    f"Show the full traceback of a bad-input error instead of one 'error:' line "
    f"(also: environment variable {VERBOSE_ENV}=1).",
)


def _verbose():
    from_env = os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")
    return from_env or bool(flags.FLAGS["verbose_errors"].value)


def report_errors(main):
    """Wraps an absl `main(argv)` so that user errors end the process with one line.

    Args:
      main: the binary's `main(argv)`.

    Returns:
      A function of `argv` with the same behaviour except that a `USER_ERRORS` exception
      prints `error: <message>` to stderr and exits with status `EXIT_USER_ERROR`.
    """

    def wrapped(argv):
        try:
            return main(argv)
        except USER_ERRORS as error:
            if _verbose():
                raise
            print(f"error: {error}", file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)

    return wrapped


def run(main, argv=None):
    """`absl.app.run(main)` with user errors reported as one `error:` line (status 2).

    Args:
      main: the binary's `main(argv)`.
      argv: optional argument list (default: `sys.argv`).
    """
    app.run(report_errors(main), argv=argv)
