"""Aggregation and Markdown tables of the linear study (paper Tables 4 and 5).

The paper's numbers (mean (std) over three seeds, transcribed in
`reference/paper-tables.md`) are printed beside ours; None marks an entry the source text
does not show.
"""

import os

from tf_smvae.experiments import reports
from tf_smvae.util import files

__all__ = [
    "METRICS",
    "PAPER_TABLE4",
    "PAPER_TABLE5",
    "aggregate",
    "format_table4",
    "format_table5",
    "summary_line",
    "write_tables",
]

METRICS = ("delta_log_px", "kappa_posterior", "kappa_transformed")

# row -> {config: (kappa(Sigma_{z|x}), kappa(C^T Sigma^{-1} C))}, each "mean (std)".
PAPER_TABLE4 = {
    "HVAE": {"10,20": ("18.07 (0.45)", "-"), "50,100": ("508.55 (12.1)", "-")},
    "gradMALA-D": {
        "10,20": ("20.43 (0.99)", "19.02 (1.24)"),
        "50,100": ("578.05 (84.5)", "434.24 (13.0)"),
    },
    "dsMALA-D": {
        "10,20": ("18.62 (1.34)", "18.62 (1.34)"),
        "50,100": ("617.36 (48.4)", "617.36 (48.4)"),
    },
    "gradHMC-D": {
        "10,20": ("21.57 (1.48)", "22.67 (1.23)"),
        "50,100": ("502.41 (36.0)", "431.14 (23.4)"),
    },
    "dsHMC-D": {
        "10,20": ("18.38 (1.27)", "18.38 (1.27)"),
        "50,100": ("621.1 (54.9)", "621.1 (54.9)"),
    },
    # The OCR lost the leading digits of two entries ("5 (5.31)" and "0 (0.02)").
    "gradMALA-LT": {"10,20": (None, "1.67 (0.06)"), "50,100": ("475.93 (23.7)", None)},
    "gradHMC-LT": {
        "10,20": ("25.57 (2.63)", "1.68 (0.15)"),
        "50,100": ("483.05 (38.0)", "2.24 (0.04)"),
    },
}

# row -> {config: Delta log p(x)}.
PAPER_TABLE5 = {
    "HVAE": {"10,20": "24.91 (7.67)", "50,100": "13.08 (0.26)"},
    "gradMALA-D": {"10,20": "1.54 (1.49)", "50,100": "7.14 (0.11)"},
    "dsMALA-D": {"10,20": "2.68 (2.04)", "50,100": "8.77 (0.11)"},
    "gradHMC-D": {"10,20": "1.16 (1.72)", "50,100": "2.19 (0.05)"},
    "dsHMC-D": {"10,20": "2.59 (1.78)", "50,100": "8.06 (0.48)"},
    "gradMALA-LT": {"10,20": "1.56 (1.61)", "50,100": "1.96 (0.12)"},
    "gradHMC-LT": {"10,20": "1.14 (1.53)", "50,100": "1.66 (0.15)"},
}


def _mean_std(values):
    # results.json of the linear study names the count `num_seeds` (issue 4's shape).
    entry = reports.mean_std(values)
    return None if entry is None else dict(entry, num_seeds=entry.pop("seeds"))


def aggregate(records):
    """{config: {row: [record, ...]}} -> {config: {row: {metric: {mean, std, num_seeds}}}}.

    The std is the sample standard deviation over seeds (0 for one seed) that did not
    diverge; a metric a row does not have (kappa_transformed of HVAE) is None. A row with
    diverged seeds also gets `"diverged_seeds": [seed, ...]`.
    """
    results = {}
    for name, rows in records.items():
        results[name] = {}
        for row, runs in rows.items():
            kept = [r for r in runs if not r.get("diverged", False)]
            entry = {metric: _mean_std([r[metric] for r in kept]) for metric in METRICS}
            diverged = [r.get("seed") for r in runs if r.get("diverged", False)]
            if diverged:
                entry["diverged_seeds"] = diverged
            results[name][row] = entry
    return results


def _diverged_note(entry):
    seeds = entry.get("diverged_seeds") if entry else None
    return f" [diverged: seed {', '.join(map(str, seeds))}]" if seeds else ""


def _paper(value):
    return "n/a" if value is None else value


def format_table4(results):
    """Markdown of Table 4: both condition numbers per configuration, ours and the paper's."""
    names = list(results)
    header = ["model"]
    for name in names:
        header += [
            f"({name}) kappa(Sigma_z\\|x)",
            "paper",
            f"({name}) kappa(C^T Sigma^-1 C)",
            "paper",
        ]
    lines = _table_head(header)
    for row in _rows(results):
        cells = [row]
        for name in names:
            ours = results[name].get(row, {})
            paper = PAPER_TABLE4.get(row, {}).get(name, (None, None))
            cells += [
                reports.cell(ours.get("kappa_posterior")) + _diverged_note(ours),
                _paper(paper[0]),
            ]
            cells += [reports.cell(ours.get("kappa_transformed")), _paper(paper[1])]
        lines.append(_table_line(cells))
    title = "# Table 4: condition numbers of the learned linear hVAE (mean (std) over seeds)\n\n"
    return title + "\n".join(lines) + "\n"


def format_table5(results):
    """Markdown of Table 5: Delta log p(x) per configuration, ours and the paper's."""
    names = list(results)
    header = ["model"]
    for name in names:
        header += [f"({name}) Delta log p(x)", "paper"]
    lines = _table_head(header)
    for row in _rows(results):
        cells = [row]
        for name in names:
            ours = results[name].get(row, {})
            cells += [
                reports.cell(ours.get("delta_log_px")) + _diverged_note(ours),
                _paper(PAPER_TABLE5.get(row, {}).get(name)),
            ]
        lines.append(_table_line(cells))
    title = "# Table 5: true minus learned log p(x), mean over the data (mean (std) over seeds)\n\n"
    return title + "\n".join(lines) + "\n"


def _rows(results):
    seen = []
    for rows in results.values():
        seen += [row for row in rows if row not in seen]
    return seen


def _table_head(header):
    return [_table_line(header), _table_line(["---"] * len(header))]


def _table_line(cells):
    return "| " + " | ".join(cells) + " |"


def write_tables(results, workdir):
    """Writes table4.md and table5.md into `workdir`; returns their paths."""
    paths = []
    for name, text in (
        ("table4.md", format_table4(results)),
        ("table5.md", format_table5(results)),
    ):
        paths.append(files.write_text(os.path.join(workdir, name), text))
    return paths


def summary_line(label, record):
    """One line per finished run."""
    if record.get("diverged", False):
        return f"{label}: DIVERGED ({record.get('divergence')}), {record['seconds']:.0f}s"
    transformed = record["kappa_transformed"]
    transformed = "-" if transformed is None else f"{transformed:.2f}"
    return (
        f"{label}: Delta log p(x) {record['delta_log_px']:.3f}, "
        f"kappa(Sigma) {record['kappa_posterior']:.2f}, kappa(C^T Sigma^-1 C) {transformed}, "
        f"{record['seconds']:.0f}s"
    )
