"""The README's results block of one profile, rendered from a built report: the verdict paragraph (built from the
claim verdicts of readings.json), the claims table and the primary table per dataset. It is written between
``<!-- results:<profile>:start -->`` and ``<!-- results:<profile>:end -->``; a README that still has the old
profile-less markers ``<!-- results:start -->`` / ``<!-- results:end -->`` is migrated to the profile's.
Links go only to files that exist beside the report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from smartmining import atomic
from smartmining.errors import SmartMiningError
from smartmining.report import stamp as stamps

START, END = "<!-- results:start -->", "<!-- results:end -->"  # the old, profile-less markers


def markers(profile: str) -> tuple[str, str]:
    return f"<!-- results:{profile}:start -->", f"<!-- results:{profile}:end -->"


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SmartMiningError(f"{path}: no such file; build the report first (smartmining report)") from None
    except json.JSONDecodeError as exc:
        raise SmartMiningError(f"{path}: not valid JSON ({exc}); rebuild the report ({what})") from None


def report_datasets(results_dir: Path) -> list[str]:
    """The datasets of a built report, in metrics.json's order, that have a primary table."""
    order = list(_json(Path(results_dir) / "metrics.json", "the metrics per dataset"))
    return [d for d in order if (Path(results_dir) / "tables" / f"primary_{d}.md").is_file()]


def verdict_paragraph(data: dict[str, Any], dataset: str) -> str:
    """The claim verdicts in words, and where the methods stand against the pretrained-only network."""
    claims = [c for c in data.get("claims", []) if c.get("dataset") == dataset]
    parts = [f"{c['claim']} ({c['text']}) **{c['verdict']}**" for c in claims]
    readings = [r for r in data.get("readings", []) if r.get("dataset") == dataset]
    final = next((r for r in readings if r["id"].endswith("/primary/C4-final")), None)
    text = f"**The verdict on `{dataset}`**: " + "; ".join(parts) + "."
    if final is not None and final.get("n"):
        text += f" C4's final R@1, adaptive against fixed κ: {final['text']}."
    pre = [r for r in readings if r.get("family") == "pretrained" and r.get("n")]
    rnd = next((r for r in pre if r["a"] == "random"), None)
    if rnd is not None:
        text += (f" `random` {'ends' if rnd['verdict'] == 'a_better' else 'does not end'} detectably above the "
                 "pretrained-only network")
        better = [r["a"] for r in pre if r["verdict"] == "a_better"]
        text += f"; methods that do: {', '.join(f'`{m}`' for m in better) or 'none'}."
    return text + (f" Margins fixed in advance: ±{data['margins']['points']:g} R@1 points, "
                   f"±{data['margins']['epochs']:g} epoch; Holm at α = {data['alpha']:g} per family.")


def render_results_block(results_dir: Path, link_from: Path) -> str:
    """Markdown of the block; links relative to the folder ``link_from`` (the README's), to existing files only."""
    results_dir = Path(results_dir)
    datasets = report_datasets(results_dir)
    if not datasets:
        raise SmartMiningError(f"{results_dir}: no tables/primary_<dataset>.md; build the report first")
    data = _json(results_dir / "readings.json", "the report's readings")

    def link(name: str, path: Path) -> str:
        if not path.is_file():
            return name
        rel = Path(os.path.relpath(path.resolve(), Path(link_from).resolve())).as_posix()
        return f"[{name}]({rel})"

    source = link(f"results/{data.get('profile', '?')}/REPORT.md", results_dir / "REPORT.md")
    lines = [f"Generated from {source} ({stamps.describe(data.get('stamp'))}); do not edit by hand. Claims of "
             "PAPER.md section 10, Holm-controlled; test metrics in percent, mean [95% t-interval] over seeds.", ""]
    for dataset in datasets:
        lines += [verdict_paragraph(data, dataset), ""]
        claims = results_dir / "tables" / f"claims_{dataset}.md"
        if claims.is_file():
            lines += [claims.read_text(encoding="utf-8").rstrip(), ""]
        table = (results_dir / "tables" / f"primary_{dataset}.md").read_text(encoding="utf-8")
        lines += [f"#### {dataset}", "", table.rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def replace_block(text: str, block: str, profile: str, where: str = "README") -> str:
    """``text`` with the profile's block replaced by ``block`` (markers kept); the old profile-less block, where it
    is the only one, becomes the profile's."""
    start, end = markers(profile)
    if start not in text and end not in text and text.count(START) == 1 and text.count(END) == 1:
        text = text.replace(START, start).replace(END, end)  # migrate the old markers
    i, j = text.find(start), text.find(end)
    if i < 0 or j < 0:
        raise SmartMiningError(f"{where}: expected the markers {start} and {end} around profile {profile!r}'s results block")
    if j < i or text.count(start) != 1 or text.count(end) != 1:
        raise SmartMiningError(f"{where}: expected one {start} followed by one {end}")
    return text[: i + len(start)] + "\n" + block.rstrip() + "\n" + text[j:]


def update_readme(readme_path: Path, results_dir: Path, profile: str) -> None:
    """Rewrite the README's results block of ``profile`` from the report under ``results_dir`` (atomically)."""
    readme_path = Path(readme_path)
    try:
        text = readme_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SmartMiningError(f"{readme_path}: no such file (expected the README to update)") from None
    block = render_results_block(results_dir, readme_path.parent)
    atomic.write_text(readme_path, replace_block(text, block, profile, str(readme_path)))
