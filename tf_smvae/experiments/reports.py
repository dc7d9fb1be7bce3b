"""Report helpers of the reproduction binaries: seed statistics, markdown, JSON, curves.

Everything here is plain Python / numpy (plus matplotlib for the curve plots), so
reports can be rebuilt from stored per-run records without TensorFlow.
"""

import json
import os

import numpy as np

from tf_smvae.util.files import write_json
from tf_smvae.util.files import write_text

__all__ = [
    "cell",
    "markdown_table",
    "mean_std",
    "plot_training_curves",
    "read_jsonl",
    "write_json",
    "write_text",
]

DEFAULT_CURVE_KEYS = ("loss", "acceptance", "step_size", "entropy_weight")


def mean_std(values):
    """Mean and sample standard deviation over seeds.

    Args:
      values: iterable of numbers or None (None marks a missing run and is skipped).

    Returns:
      `{"mean": m, "std": s, "seeds": n}` with the sample standard deviation
      (ddof=1; 0.0 for a single value), or None when no value is present.
    """
    present = [float(value) for value in values if value is not None]
    if not present:
        return None
    array = np.asarray(present, np.float64)
    std = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
    return {"mean": float(np.mean(array)), "std": std, "seeds": int(array.size)}


def cell(entry, digits=2):
    """Formats a `mean_std` entry as `"mean (std)"`.

    Args:
      entry: a `mean_std` dict, or None.
      digits: digits after the decimal point.

    Returns:
      The string `"m (s)"`, `"m (1 seed)"` when one seed gave the entry (its std of 0
      says nothing), or `"-"` when entry is None.
    """
    if entry is None:
        return "-"
    if entry.get("seeds", entry.get("num_seeds")) == 1:
        return f"{entry['mean']:.{digits}f} (1 seed)"
    return f"{entry['mean']:.{digits}f} ({entry['std']:.{digits}f})"


def markdown_table(title, header, rows):
    """Renders a markdown table under a level-2 heading.

    Args:
      title: heading text (no leading `#`).
      header: list of column names.
      rows: list of rows, each a list of string cells as long as `header`.

    Returns:
      The markdown text, ending with a newline.

    Raises:
      ValueError: if a row's length differs from the header's.
    """
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(
                f"markdown_table row {index} has {len(row)} cells, the header has {len(header)}."
            )
    lines = [f"## {title}", ""]
    lines.append("| " + " | ".join(str(name) for name in header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def read_jsonl(path):
    """Reads a JSON-lines file (blank lines skipped).

    Args:
      path: the file.

    Returns:
      list of the decoded records.
    """
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def _as_number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def plot_training_curves(metrics_jsonl_path, png_path, keys=DEFAULT_CURVE_KEYS):
    """Plots per-epoch training metrics, one panel per key, into a PNG.

    Reads the `metrics.jsonl` that `tf_smvae.training.callbacks.MetricsLogger`
    writes (one record per epoch with `epoch` and the logged metrics). Keys that
    no record holds are skipped; epochs without a key (e.g. the MCMC metrics
    before the MCMC phase) leave gaps.

    Args:
      metrics_jsonl_path: the run's `metrics.jsonl`.
      png_path: where the figure goes (written atomically, folders created).
      keys: metric names to plot, in panel order.

    Returns:
      png_path.

    Raises:
      ValueError: if the file holds no record or none of `keys`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    records = read_jsonl(metrics_jsonl_path)
    if not records:
        raise ValueError(f"{metrics_jsonl_path} holds no metrics record.")
    present = [key for key in keys if any(key in record for record in records)]
    if not present:
        raise ValueError(f"{metrics_jsonl_path} holds none of the metrics {list(keys)}.")
    epochs = [record.get("epoch", index + 1) for index, record in enumerate(records)]
    figure, axes = pyplot.subplots(
        1, len(present), figsize=(3.2 * len(present), 2.8), squeeze=False
    )
    for axis, key in zip(axes[0], present):
        values = [_as_number(record.get(key)) for record in records]
        axis.plot(epochs, values, marker="." if len(epochs) < 50 else None)
        axis.set_title(key)
        axis.set_xlabel("epoch")
        axis.grid(True, alpha=0.3)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    tmp = f"{png_path}.tmp-{os.getpid()}.png"
    figure.savefig(tmp, dpi=100, format="png")
    pyplot.close(figure)
    os.replace(tmp, png_path)
    return png_path
