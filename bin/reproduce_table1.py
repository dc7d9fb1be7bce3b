"""Deprecated: `python bin/reproduce.py --table=table1 ...` (this name goes in the next release)."""

if __name__ == "__main__":
    import _forward

    _forward.forward("reproduce_table1.py", "reproduce.py", "--table=table1")
