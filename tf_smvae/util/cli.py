"""`run(main)`: absl's `app.run` printing user errors as one line instead of a traceback.

A binary's `main` raises `ConfigError`, `DataError`, `ValueError`, `FileNotFoundError` (or
`FloatingPointError` for a diverged run) for bad flags, configs, data or files; their
messages name the bad flag, field or file. `run` prints such an error as

    error: <message>

on stderr and exits with status 2, so the message is not buried under a TensorFlow stack
trace. `--verbose_errors` (or the environment variable `TF_SMVAE_VERBOSE_ERRORS=1`) re-raises
instead, showing the full traceback for debugging. Any other exception (a bug) keeps its
traceback.

Flag errors (an unknown flag, a bad value) take the same form, and `--help` prints the
binary's own flags (the short flags with their accepted values, and how to override any
config field) and exits 0; `--helpfull` lists every flag, absl's and TensorFlow's included.
`--verbose` keeps TensorFlow's start-up log (silenced by `bin/_paths.py` before TensorFlow
is imported) and implies `--verbose_errors`.
"""

import os
import sys

from absl import app
from absl import flags

__all__ = [
    "EXIT_USER_ERROR",
    "USER_ERRORS",
    "VERBOSE_ENV",
    "parse_flags",
    "report_errors",
    "run",
    "usage",
]

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


flags.DEFINE_bool(
    "verbose",
    False,
    "Show TensorFlow's start-up log (silenced otherwise) and full tracebacks of errors.",
)

_HELP = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
_HELP_FULL = ("--helpfull", "-helpfull")
_CONFIG_HELP = """\
Any config field can be set as --config.<section>.<field>=<value>, e.g.
  --config.train.epochs=5 --config.kernel.num_leapfrog_steps=3
(the fields and their defaults: configs/base.py; a short flag above is the same as its
config field). All flags, absl's and TensorFlow's included: --helpfull."""


def _verbose():
    from_env = os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")
    values = flags.FLAGS
    return from_env or bool(values["verbose_errors"].value) or bool(values["verbose"].value)


def _own_modules(program):
    """The modules whose flags --help shows: the binary itself and tf_smvae's."""
    for module in flags.FLAGS.flags_by_module_dict():
        if module == program or module.startswith("tf_smvae"):
            yield module


def usage(argv):
    """The text of `--help`: the binary's docstring and its own flags.

    Args:
      argv: the command line (`sys.argv`); `argv[0]` names the binary.

    Returns:
      The help text.
    """
    program = argv[0] if argv else sys.argv[0]
    main = sys.modules.get("__main__")
    parts = [(getattr(main, "__doc__", None) or "").strip()]
    for module in _own_modules(program):
        parts.append(flags.FLAGS.module_help(module))
    if "config" in flags.FLAGS:
        parts.append(_CONFIG_HELP)
    return "\n\n".join(part for part in parts if part) + "\n"


def _flag_arguments(argv):
    """The arguments before a lone `--` (after it, nothing is a flag)."""
    arguments = list(argv[1:])
    return arguments[: arguments.index("--")] if "--" in arguments else arguments


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


def parse_flags(argv):
    """absl's flag parsing with a bad or missing flag reported as one `error:` line.

    Args:
      argv: the command line (`sys.argv`).

    Returns:
      The arguments left after the flags (as `absl.flags.FLAGS(argv)`).
    """
    arguments = _flag_arguments(argv)
    if any(argument in _HELP for argument in arguments):
        sys.stdout.write(usage(argv))
        sys.exit(0)
    if any(argument in _HELP_FULL for argument in arguments):
        sys.stdout.write(flags.FLAGS.get_help() + "\n")
        sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        program = os.path.basename(argv[0]) if argv else "program"
        print(f"error: {error}\n  (see: {program} --help)", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def run(main, argv=None):
    """`absl.app.run(main)` with flag and user errors reported as one `error:` line (status 2).

    Args:
      main: the binary's `main(argv)`.
      argv: optional argument list (default: `sys.argv`).
    """
    app.run(report_errors(main), argv=argv, flags_parser=parse_flags)
