"""Atomic file writes (temporary file + `os.replace`), throw-away folders, and the flat
diff of two configs."""

import contextlib
import json
import math
import os
import shutil

__all__ = [
    "changed_fields",
    "describe_changes",
    "discarded_directory",
    "flatten",
    "write_json",
    "write_text",
]


@contextlib.contextmanager
def discarded_directory(path):
    """Creates `path`, yields it, and deletes it with everything in it afterwards.

    For a process that must go through a write without keeping it (a non-chief
    multi-worker task saving a checkpoint or a model).

    Args:
      path: the folder (deleted even when the body raises).

    Yields:
      path.
    """
    os.makedirs(path, exist_ok=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_text(path, text):
    """Writes text atomically (temporary file + `os.replace`), creating parent folders.

    Args:
      path: destination file.
      text: the content.

    Returns:
      path.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(tmp, path)
    return path


def write_json(path, value, *, sort_keys=False):
    """Writes a JSON value atomically (indented); non-finite floats become strings.

    Args:
      path: destination file.
      value: anything `json.dumps` accepts.
      sort_keys: sort the keys of every object (default: insertion order).

    Returns:
      path.
    """
    text = json.dumps(_finite(value), indent=2, sort_keys=sort_keys) + "\n"
    return write_text(path, text)


def _finite(value):
    """Replaces non-finite floats by their string form so the JSON stays standard."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def flatten(value, prefix=""):
    """Nested dicts -> `{"a.b.c": leaf}`; tuples become lists (as JSON reads them back)."""
    if not isinstance(value, dict):
        return {prefix[:-1]: list(value) if isinstance(value, tuple) else value}
    flat = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}{key}."))
    return flat


def changed_fields(old, new, ignore=(), ignore_added=False):
    """Returns the sorted dotted keys whose values differ between two nested dicts.

    Args:
      old, new: nested dicts (e.g. a stored and a resolved config).
      ignore: dotted keys whose changes do not count.
      ignore_added: keys only in `new` do not count (a config field added by a newer
        tf_smvae, absent from a run stored before it existed).
    """
    old, new = flatten(old), flatten(new)
    keys = set(old) if ignore_added else set(old) | set(new)
    return sorted(key for key in keys if old.get(key) != new.get(key) and key not in ignore)


def describe_changes(old, new, keys):
    """`"key: old -> new, ..."` for the dotted `keys` of two nested dicts."""
    old, new = flatten(old), flatten(new)
    return ", ".join(f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in keys)
