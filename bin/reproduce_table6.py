"""Deprecated: `python bin/reproduce.py --table=table6 ...` (this name goes in the next release).

Runs bin/reproduce.py with `--table=table6` and the same flags, after one line on stderr.
"""

import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    print(
        "warning: bin/reproduce_table6.py is deprecated; use bin/reproduce.py --table=table6",
        file=sys.stderr,
        flush=True,
    )
    target = os.path.join(here, "reproduce.py")
    os.execv(sys.executable, [sys.executable, target, "--table=table6", *sys.argv[1:]])
