"""Deprecated: `python bin/reproduce.py --table=table6 ...` (this name goes in the next release)."""

if __name__ == "__main__":
    import _forward

    _forward.forward("reproduce_table6.py", "reproduce.py", "--table=table6")
