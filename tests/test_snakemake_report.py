"""Snakemake's own report: `snakemake --report` of the smoke profile holds every figure of REPORT.md."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from test_pipeline import make_project, snakemake


@pytest.mark.slow
def test_the_snakemake_report_holds_every_figure_and_table_of_report_md(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    snakemake(project, "all", "--config", "profile=smoke")
    snakemake(project, "--config", "profile=smoke", "--report", "report.zip")
    report_md = (project / "results" / "smoke" / "REPORT.md").read_text()
    figures = set(re.findall(r"figures/([A-Za-z0-9_]+\.png)", report_md))
    assert len(figures) >= 5, figures
    with zipfile.ZipFile(project / "report.zip") as archive:
        names = {Path(n).name for n in archive.namelist()}
        html = "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist() if n.endswith(".html"))
    assert figures <= names, sorted(figures - names)
    tables = {p.name for p in (project / "results" / "smoke" / "tables").glob("*.csv")}
    assert tables and tables <= names, sorted(tables - names)
    assert "Figures" in html and "Tables" in html  # the categories the rule's report() marks give
