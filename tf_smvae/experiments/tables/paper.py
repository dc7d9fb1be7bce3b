"""The paper's Tables 1, 2 and 6 (arXiv 2308.13731), as printed beside our numbers.

Transcribed from `reference/paper-tables.md`: mean (std) over three seeds, kept as the
paper prints them (strings, so that "0.2" stays "0.2"). Table 1 is the IS estimate of the
test log-likelihood in nats (S = 10000, tau = 1.5), SVHN in bits/dim with the sign dropped;
Tables 2 and 6 are KID, lower is better, on a scale the paper does not state.

Also the aggregation of our per-run records over seeds and the markdown that puts our
mean (std) beside the paper's, for the two kinds of table: "log_likelihood" (Table 1)
and "kid" (Tables 2 and 6).
"""

from tf_smvae.experiments import reports

__all__ = [
    "BITS_PER_DIM_DATASETS",
    "DATASET_TITLES",
    "TABLE1",
    "TABLE2",
    "TABLE6",
    "aggregate",
    "format_table",
    "paper_value",
    "shown_metric",
]

DATASET_TITLES = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "omniglot": "Omniglot",
    "svhn": "SVHN",
    "cifar10": "CIFAR-10",
}

# row -> {dataset: "mean (std)"}; SVHN in bits/dim.
TABLE1 = {
    "VAE": {
        "mnist": "-81.16 (0.2)",
        "fashion_mnist": "-116.65 (0.1)",
        "omniglot": "-117.46 (0.2)",
        "svhn": "7.203 (0.005)",
    },
    "VAE-gradMALA": {
        "mnist": "-79.94 (0.1)",
        "fashion_mnist": "-115.84 (0.1)",
        "omniglot": "-116.93 (0.3)",
        "svhn": "7.209 (0.005)",
    },
    "VAE-dsMALA": {
        "mnist": "-80.36 (0.1)",
        "fashion_mnist": "-116.32 (0.2)",
        "omniglot": "-117.48 (0.2)",
        "svhn": "7.203 (0.001)",
    },
    "VAE-gradHMC": {
        "mnist": "-79.52 (0.2)",
        "fashion_mnist": "-115.77 (0.1)",
        "omniglot": "-116.69 (0.3)",
        "svhn": "7.179 (0.001)",
    },
    "VAE-dsHMC": {
        "mnist": "-79.89 (0.1)",
        "fashion_mnist": "-116.02 (0.1)",
        "omniglot": "-116.88 (0.1)",
        "svhn": "7.187 (0.003)",
    },
    "VAE-MoG": {
        "mnist": "-80.52 (0.1)",
        "fashion_mnist": "-116.40 (0.3)",
        "omniglot": "-119.14 (0.1)",
        "svhn": "7.205 (0.001)",
    },
    "VAE-VAMP": {
        "mnist": "-78.48 (0.1)",
        "fashion_mnist": "-114.30 (0.1)",
        "omniglot": "-117.23 (0.1)",
        "svhn": "7.197 (0.001)",
    },
}

# row -> {dataset: KID "mean (std)"}.
TABLE2 = {
    "VAE": {
        "mnist": "1.084 (0.05)",
        "fashion_mnist": "0.925 (0.03)",
        "svhn": "0.197 (0.01)",
        "cifar10": "1.348 (0.01)",
    },
    "VAE-gradHMC": {
        "mnist": "0.431 (0.02)",
        "fashion_mnist": "0.852 (0.03)",
        "svhn": "0.126 (0.01)",
        "cifar10": "1.153 (0.01)",
    },
    "VAE-dsHMC": {
        "mnist": "0.653 (0.01)",
        "fashion_mnist": "0.908 (0.06)",
        "svhn": "0.183 (0.02)",
        "cifar10": "1.587 (0.10)",
    },
    "VAE-MoG": {
        "mnist": "0.542 (0.01)",
        "fashion_mnist": "0.990 (0.01)",
        "svhn": "0.190 (0.01)",
        "cifar10": "1.444 (0.01)",
    },
    "VAE-VAMP": {
        "mnist": "0.434 (0.05)",
        "fashion_mnist": "0.610 (0.03)",
        "svhn": "0.210 (0.01)",
        "cifar10": "1.657 (0.03)",
    },
}

# row -> {dataset: KID "mean (std)"} of the non-linear hVAE, latent (5, 10).
TABLE6 = {
    "HVAE": {"mnist": "0.496 (0.062)", "fashion_mnist": "1.269 (0.037)"},
    "gradMALA-D": {"mnist": "0.432 (0.057)", "fashion_mnist": "1.038 (0.068)"},
    "dsMALA-D": {"mnist": "0.600 (0.040)", "fashion_mnist": "1.312 (0.034)"},
    "gradHMC-D": {"mnist": "0.447 (0.073)", "fashion_mnist": "1.079 (0.174)"},
    "dsHMC-D": {"mnist": "0.490 (0.098)", "fashion_mnist": "1.151 (0.223)"},
    "gradMALA-LT": {"mnist": "0.475 (0.101)", "fashion_mnist": "0.939 (0.143)"},
    "gradHMC-LT": {"mnist": "0.407 (0.030)", "fashion_mnist": "0.916 (0.047)"},
}


def paper_value(table, row, dataset):
    """The paper's entry of one cell.

    Args:
      table: one of `TABLE1`, `TABLE2`, `TABLE6`.
      row: the model row name.
      dataset: the dataset name.

    Returns:
      The entry as printed ("mean (std)"), or "n/a" where the paper has none.
    """
    return table.get(row, {}).get(dataset, "n/a")


# Table 1 columns the paper reports in bits/dim (sign dropped); the others are in nats.
BITS_PER_DIM_DATASETS = ("svhn",)
# Metrics each kind of table aggregates; digits of each in the markdown.
_METRICS = {
    "log_likelihood": ("log_likelihood", "bits_per_dim", "log_likelihood_defensive"),
    "kid": ("kid",),
}
_DIGITS = {"log_likelihood": 2, "bits_per_dim": 3, "log_likelihood_defensive": 2, "kid": 4}
# A metric shown in a column of its own, beside the paper's, where some run has it.
_EXTRA_COLUMNS = {"log_likelihood": ("log_likelihood_defensive", "defensive IS")}


def shown_metric(kind, dataset):
    """The metric a table of `kind` ("log_likelihood" or "kid") shows for `dataset`."""
    if kind == "log_likelihood" and dataset in BITS_PER_DIM_DATASETS:
        return "bits_per_dim"
    return kind


def _metrics(kind, dataset):
    """Metrics kept in results.json: the shown one, log-likelihood in nats always, and the
    defensive-IS log-likelihood."""
    return tuple(
        name
        for name in _METRICS[kind]
        if name in (shown_metric(kind, dataset), "log_likelihood", "log_likelihood_defensive")
    )


def aggregate(records, kind):
    """{dataset: {row: [record, ...]}} -> {dataset: {row: {metric: mean_std entry}}}.

    Args:
      records: {dataset: {row: [per-run record, ...]}}, records holding the metrics.
      kind: "log_likelihood" (metrics log_likelihood in nats, and bits_per_dim for the
        `BITS_PER_DIM_DATASETS`) or "kid" (metric kid).

    Returns:
      {dataset: {row: {metric: {"mean", "std", "seeds"}}}}. Diverged runs are left out of
      the statistics and listed as `"diverged_seeds"`; a metric no run has is left out.

    Raises:
      KeyError: for an unknown kind.
    """
    results = {}
    for dataset, rows in records.items():
        for row, runs in rows.items():
            kept = [run for run in runs if not run.get("diverged")]
            entry = {}
            for metric in _metrics(kind, dataset):
                stats = reports.mean_std(run.get(metric) for run in kept)
                if stats is not None:
                    entry[metric] = stats
            diverged = [run["seed"] for run in runs if run.get("diverged")]
            if diverged:
                entry["diverged_seeds"] = diverged
            results.setdefault(dataset, {})[row] = entry
    return results


def _column(kind, dataset):
    title = DATASET_TITLES.get(dataset, dataset)
    return f"{title} (bpd)" if shown_metric(kind, dataset) == "bits_per_dim" else title


def _extra_column(kind, dataset, results):
    """(metric, title) of the dataset's extra column, or None where no run has it."""
    extra = _EXTRA_COLUMNS.get(kind)
    if extra is None or not any(extra[0] in entry for entry in results[dataset].values()):
        return None
    return extra


def _ours(kind, dataset, entry, metric=None):
    if entry is None:
        return "-"
    metric = metric or shown_metric(kind, dataset)
    text = reports.cell(entry.get(metric), digits=_DIGITS[metric])
    if entry.get("diverged_seeds"):
        text += f" [diverged: seed {', '.join(map(str, entry['diverged_seeds']))}]"
    return text


def format_table(title, paper, rows, datasets, kind, results, note=""):
    """Markdown of one table: for each dataset run, our mean (std) beside the paper's.

    Args:
      title: the heading.
      paper: the paper's table (`TABLE1`, `TABLE2` or `TABLE6`).
      rows: row names in the order to print (rows without results are skipped).
      datasets: dataset names in column order (datasets without results are skipped).
      kind: "log_likelihood" or "kid".
      results: the output of `aggregate`.
      note: a line printed under the table.

    Returns:
      The markdown text.
    """
    datasets = [name for name in datasets if name in results]
    extras = {dataset: _extra_column(kind, dataset, results) for dataset in datasets}
    header = ["model"]
    for dataset in datasets:
        header += [f"{_column(kind, dataset)} (ours)", "paper"]
        if extras[dataset]:
            header.append(f"{DATASET_TITLES.get(dataset, dataset)} {extras[dataset][1]} (ours)")
    lines = []
    for row in rows:
        if not any(row in results[dataset] for dataset in datasets):
            continue
        cells = [row]
        for dataset in datasets:
            entry = results[dataset].get(row)
            cells += [_ours(kind, dataset, entry), paper_value(paper, row, dataset)]
            if extras[dataset]:
                cells.append(_ours(kind, dataset, entry, extras[dataset][0]))
        lines.append(cells)
    text = reports.markdown_table(title, header, lines)
    return text + (f"\n{note}\n" if note else "")
