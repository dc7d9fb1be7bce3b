"""Fixed-seed outputs of the binaries, recorded once, so a refactor shows it changes nothing.

`check(name, values)` compares `values` (a JSON-able nest of numbers and strings) with
`tests/golden/<name>.json`. Timing fields (`seconds`, `*_seconds`) are left out. With
`TF_SMVAE_WRITE_GOLDEN=1` in the environment the file is (re)written instead; do that only
for a change meant to move the numbers, and say so in the commit message.

The tolerance (rtol 1e-4 of the largest magnitude in the list a number sits in) absorbs a
different CPU's float32 kernels: their rounding error is relative to the magnitudes a
computation handles, not to its result, so a number near zero among O(1) values (an MCMC
state coordinate) moves by ~1e-6 absolutely, as it did between an AVX512 and an AMD EPYC
machine (refine 0.0046186 -> 0.0046165 among values up to 2.7). A change to a seed, an
update rule or an estimator moves these values far more.
"""

import json
import math
import os

_DIR = os.path.dirname(os.path.abspath(__file__))
RTOL = 1e-4
ATOL = 1e-6


def _strip(values):
    if isinstance(values, dict):
        return {
            key: _strip(value)
            for key, value in values.items()
            if key != "seconds" and not key.endswith("_seconds")
        }
    if isinstance(values, (list, tuple)):
        return [_strip(value) for value in values]
    return values


def _magnitude(values):
    """The largest |number| in a nest of lists (0 for none)."""
    if isinstance(values, list):
        return max((_magnitude(value) for value in values), default=0.0)
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        return abs(values)
    return 0.0


def _differences(expected, actual, where="", scale=0.0):
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            return [f"{where or '.'}: keys {sorted(expected)} != {sorted(actual)}"]
        return [
            d
            for key in expected
            for d in _differences(expected[key], actual[key], f"{where}.{key}")
        ]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: length {len(expected)} != {len(actual)}"]
        scale = max(scale, _magnitude(expected))
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual))
            for d in _differences(e, a, f"{where}[{i}]", scale)
        ]
    numbers = (int, float)
    if (
        isinstance(expected, numbers)
        and isinstance(actual, numbers)
        and not isinstance(expected, bool)
    ):
        if math.isclose(expected, actual, rel_tol=RTOL, abs_tol=max(ATOL, RTOL * scale)):
            return []
    elif expected == actual:
        return []
    return [f"{where}: expected {expected!r}, got {actual!r}"]


def check(name, values):
    """Asserts `values` match the recorded `tests/golden/<name>.json` (see the module doc)."""
    path = os.path.join(_DIR, f"{name}.json")
    values = _strip(json.loads(json.dumps(values)))
    if os.environ.get("TF_SMVAE_WRITE_GOLDEN") == "1":
        with open(path, "w", encoding="utf-8") as stream:
            json.dump(values, stream, indent=1, sort_keys=True)
            stream.write("\n")
        return
    with open(path, encoding="utf-8") as stream:
        expected = json.load(stream)
    differences = _differences(expected, values)
    assert not differences, f"{name} moved from tests/golden/{name}.json:\n" + "\n".join(
        differences[:20]
    )


def read_jsonl(path):
    """The records of a metrics.jsonl file."""
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]
