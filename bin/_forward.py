"""Runs another binary of bin/ in this process's place: the body of a deprecated name."""

import os
import sys


def forward(old, new, *args):
    """Warns on stderr that `bin/<old>` is deprecated, then runs `bin/<new> *args` with
    this command line's flags (the process is replaced; its exit status is `new`'s)."""
    use = " ".join((f"bin/{new}", *args))
    print(f"warning: bin/{old} is deprecated; use {use}", file=sys.stderr, flush=True)
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), new)
    os.execv(sys.executable, [sys.executable, target, *args, *sys.argv[1:]])
