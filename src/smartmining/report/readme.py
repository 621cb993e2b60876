"""The README's results block, rendered from a built report: per dataset the primary table and the readings,
written between the markers ``<!-- results:start -->`` and ``<!-- results:end -->`` of the README."""

from __future__ import annotations

import json
import os
from pathlib import Path

from smartmining import atomic
from smartmining.errors import SmartMiningError

START, END = "<!-- results:start -->", "<!-- results:end -->"


def report_datasets(results_dir: Path) -> list[str]:
    """The datasets of a built report, in metrics.json's order, that have a primary table."""
    path = Path(results_dir) / "metrics.json"
    try:
        order = list(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise SmartMiningError(f"{path}: no such file; build the report first (smartmining report)") from None
    except json.JSONDecodeError as exc:
        raise SmartMiningError(f"{path}: not valid JSON ({exc}); rebuild the report") from None
    return [d for d in order if (Path(results_dir) / "tables" / f"primary_{d}.md").is_file()]


def render_results_block(results_dir: Path, link_from: Path) -> str:
    """Markdown: per dataset the primary table (mean [95% interval] over seeds) and the readings; links are
    relative to the folder ``link_from`` (the README's)."""
    results_dir = Path(results_dir)
    datasets = report_datasets(results_dir)
    if not datasets:
        raise SmartMiningError(f"{results_dir}: no tables/primary_<dataset>.md; build the report first")
    report = Path(os.path.relpath(results_dir.resolve() / "REPORT.md", Path(link_from).resolve())).as_posix()
    lines = [f"Generated from [{report}]({report}); do not edit by hand. Test metrics in percent, mean "
             "[95% t-interval] over seeds; comparisons are paired over seeds.", ""]
    for dataset in datasets:
        readings = results_dir / f"readings_{dataset}.md"
        if not readings.is_file():
            raise SmartMiningError(f"{readings}: no such file; rebuild the report")
        table = (results_dir / "tables" / f"primary_{dataset}.md").read_text(encoding="utf-8")
        lines += [f"#### {dataset}", "", table.rstrip(), "", readings.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def replace_block(text: str, block: str, where: str = "README") -> str:
    """``text`` with everything between the markers replaced by ``block`` (markers kept)."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0:
        raise SmartMiningError(f"{where}: expected the markers {START} and {END} around the results block")
    if end < start or text.count(START) != 1 or text.count(END) != 1:
        raise SmartMiningError(f"{where}: expected one {START} followed by one {END}")
    return text[: start + len(START)] + "\n" + block.rstrip() + "\n" + text[end:]


def update_readme(readme_path: Path, results_dir: Path) -> None:
    """Rewrite the README's results block from the report under ``results_dir`` (atomically)."""
    readme_path = Path(readme_path)
    try:
        text = readme_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SmartMiningError(f"{readme_path}: no such file (expected the README to update)") from None
    block = render_results_block(results_dir, readme_path.parent)
    atomic.write_text(readme_path, replace_block(text, block, str(readme_path)))
