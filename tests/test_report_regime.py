"""The report knows its regime: the paper's protocol (ImageNet weights, 20 epochs, a GPU) or not."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from smartmining.report import regime, tables
from smartmining.runs import Run


def write_provenance(runs_dir: Path, run: Run, **fields: object) -> None:
    folder = runs_dir / run.folder
    folder.mkdir(parents=True)
    (folder / "provenance.json").write_text(json.dumps({"git_commit": "abcdef1234567890", **fields}))


def test_the_papers_protocol_has_no_caveat_and_anything_else_names_each_departure(tmp_path: Path) -> None:
    paper = [Run("cub200", "smart", s) for s in (0, 1)]
    for run in paper:
        write_provenance(tmp_path, run, device="cuda:0", device_name="cuda:0 (NVIDIA H200)", epochs=20,
                         pretrained=True, init="scratch")
    test_scale = Run("cars196", "smart", 0)
    write_provenance(tmp_path, test_scale, device="cpu", epochs=2, pretrained=False, init="scratch")
    df = regime.read_regime(tmp_path, [*paper, test_scale, Run("cars196", "random", 0)])  # the last has none
    assert len(df) == 3
    assert regime.caveat(df, "cub200") is None
    gaps = regime.regime_gaps(df, "cars196")
    assert gaps == ["random initialisation instead of ImageNet weights", "2 epochs instead of the paper's 20",
                    "runs on the CPU, not a GPU"]
    assert "not the paper's protocol" in regime.caveat(df, "cars196")
    assert regime.regime_gaps(df, "sop") == ["no provenance.json says how the runs were made"]
    line = regime.setup_lines(df, "cub200")[0]
    assert "cuda:0 (NVIDIA H200)" in line and "ImageNet (torchvision)" in line and "Epochs: 20" in line
    assert "abcdef123456" in line


def test_marked_tables_star_the_published_and_difference_columns() -> None:
    table = pd.DataFrame({"method": ["smart"], "paper_row": ["Smart mining"], "n_seeds": [1],
                          **{f"{m}_mean": [50.0] for m in tables.TABLE_METRICS},
                          **{f"paper_{m}": [60.0] for m in tables.TABLE_METRICS},
                          **{f"diff_{m}": [-10.0] for m in tables.TABLE_METRICS}})
    plain, marked = tables.display_table(table), tables.display_table(table, caveat=True)
    assert "Δ R@1" in plain.columns and "Δ R@1*" in marked.columns and "paper R@1*" in marked.columns
    assert "R@1" in marked.columns  # our own numbers carry no mark
