"""REPORT.md as it is assembled: Markdown lines, figures (png + pdf) and tables (csv, md, tex) it links."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from smartmining import atomic
from smartmining.report import figures, tables


class ReportDoc:
    """REPORT.md as it is assembled, with the folder its links are relative to."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.lines: list[str] = []
        self.skipped: list[str] = []
        self.written: list[Path] = []  # every file this report wrote (STAMP.json lists them)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def link(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.out_dir)).as_posix()

    def figure(self, stem: Path, caption: str, make: Callable[[], Figure]) -> None:
        """Draw and save one figure (png + pdf) and link it; on MissingInputs note why it is skipped."""
        try:
            fig = make()
        except figures.MissingInputs as why:
            self.add(f"*{caption}: skipped: {why}.*", "")
            self.skipped.append(f"{caption}: {why}")
            return
        png, pdf = figures.save_figure(fig, stem)
        self.written += [Path(png), Path(pdf)]
        self.add(f"![{caption}]({self.link(png)})", "", f"{caption} ([PDF]({self.link(pdf)}))", "")

    def table(self, stem: Path, shown: pd.DataFrame, caption: str, numeric: pd.DataFrame | None = None) -> None:
        """Write stem.csv (numeric where given), stem.md and stem.tex, and embed the Markdown."""
        md = tables.to_markdown(shown)
        atomic.write_text(f"{stem}.csv", (shown if numeric is None else numeric).to_csv(index=False, float_format="%.6g"))
        atomic.write_text(f"{stem}.md", md)
        atomic.write_text(f"{stem}.tex", tables.to_latex(shown, caption))
        self.written += [Path(f"{stem}.{ext}") for ext in ("csv", "md", "tex")]
        links = ", ".join(f"[{ext}]({self.link(Path(f'{stem}.{ext}')) })" for ext in ("csv", "md", "tex"))
        self.add(f"**{caption}** ({links})", "", md)

    def bullets(self, items: list[str]) -> None:
        self.add(*[f"- {s}" for s in items], "")


def deviation_headings(path: Path) -> list[str]:
    """Markdown list items of the ##/### headings of docs/deviations.md (nested by level)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            out.append(f"  - {line[4:].strip()}")
        elif line.startswith("## "):
            out.append(f"- {line[3:].strip()}")
    return out
