"""tf_smvae.experiments.reports: seed statistics, markdown, atomic writes, training curves."""

import json
import os

import numpy as np
import pytest

from tf_smvae.experiments import reports


def test_mean_std_uses_the_sample_std_and_skips_missing_runs():
    entry = reports.mean_std([1.0, None, 2.0, 6.0])
    assert entry["mean"] == pytest.approx(3.0)
    assert entry["std"] == pytest.approx(np.std([1.0, 2.0, 6.0], ddof=1))
    assert entry["seeds"] == 3


def test_mean_std_of_one_value_has_zero_std_and_of_none_is_none():
    assert reports.mean_std([-116.5]) == {"mean": -116.5, "std": 0.0, "seeds": 1}
    assert reports.mean_std([None, None]) is None
    assert reports.mean_std([]) is None


def test_cell_formats_mean_and_std():
    assert reports.cell({"mean": -115.774, "std": 0.1234, "seeds": 3}) == "-115.77 (0.12)"
    assert reports.cell({"mean": 7.1791, "std": 0.0012, "seeds": 3}, digits=3) == "7.179 (0.001)"
    assert reports.cell(None) == "-"


def test_markdown_table_has_heading_header_separator_and_rows():
    text = reports.markdown_table("T", ["model", "a"], [["VAE", "1.00 (0.00)"]])
    assert text.splitlines() == ["## T", "", "| model | a |", "|---|---|", "| VAE | 1.00 (0.00) |"]
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        reports.markdown_table("T", ["model", "a"], [["VAE"]])


def test_writes_are_atomic_and_create_folders(tmp_path):
    path = tmp_path / "a" / "b" / "results.json"
    reports.write_json(str(path), {"x": {"mean": 1.5, "nan": float("nan")}})
    assert json.loads(path.read_text()) == {"x": {"mean": 1.5, "nan": "nan"}}
    reports.write_text(str(path), "replaced\n")
    assert path.read_text() == "replaced\n"
    assert sorted(os.listdir(path.parent)) == ["results.json"]  # no temporary file left


def test_plot_training_curves_writes_a_png_of_the_keys_present(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    lines = [
        {"epoch": 1, "step": 3, "loss": 210.0, "elbo": -210.0},
        {"epoch": 2, "step": 6, "loss": 190.0, "acceptance": 0.6, "step_size": 0.1},
        {"epoch": 3, "step": 9, "loss": "nan", "acceptance": 0.62, "step_size": 0.12},
    ]
    metrics.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    png = tmp_path / "plots" / "curves.png"
    assert reports.plot_training_curves(str(metrics), str(png)) == str(png)
    header = png.read_bytes()
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    # One 320-pixel-wide panel per key present: loss, acceptance, step_size (no entropy_weight).
    assert int.from_bytes(header[16:20], "big") == 3 * 320
    with pytest.raises(ValueError, match="none of the metrics"):
        reports.plot_training_curves(str(metrics), str(png), keys=("kid",))
