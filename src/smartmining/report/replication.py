"""Replication as a feature (issue 21): this run's readings against a reference report's readings.json.

The reference is, by default, the committed results/<profile>/readings.json (``git show HEAD:``), else the
file as it was on disk before this run overwrote it; ``--reference PATH`` names another, ``--no-reference``
skips the comparison. Per reading id: held (same verdict), contradicted (a decided verdict against the
opposite decided one: an error line in REPORT.md, but the report is still written), shifted (decided to a
different, compatible decided verdict), lost (decided to inconclusive), gained (inconclusive to decided),
new and gone.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartmining.errors import SmartMiningError
from smartmining.report import stamp as stamps
from smartmining.report.inference import opposite

READINGS_FILE = "readings.json"
UNDECIDED = ("inconclusive", "")
KINDS = ("contradicted", "shifted", "lost", "gained", "held", "new", "gone")


@dataclass(frozen=True)
class Change:
    id: str
    kind: str
    before: str
    after: str


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SmartMiningError(f"{where}: not valid JSON ({exc}); expected a report's readings.json") from None
    if not isinstance(data, dict) or not isinstance(data.get("readings"), list):
        raise SmartMiningError(f'{where}: expected a JSON object with a "readings" list (a report\'s readings.json)')
    return data


def load_reference(out_dir: Path, path: Path | None = None, enabled: bool = True) -> tuple[dict[str, Any] | None, str]:
    """(the reference's readings.json, where it came from); read before the report overwrites anything."""
    if not enabled:
        return None, "none (--no-reference)"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SmartMiningError(f"{path}: no such file (expected the reference readings.json for --reference)")
        return _parse(path.read_text(encoding="utf-8"), str(path)), str(path)
    target = Path(out_dir) / READINGS_FILE
    folder = target.parent if target.parent.is_dir() else None
    if folder is not None:
        try:
            out = subprocess.run(["git", "show", f"HEAD:./{READINGS_FILE}"], cwd=folder, capture_output=True,
                                 text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None and out.returncode == 0:
            return _parse(out.stdout, f"HEAD:{target}"), f"the committed {target} (HEAD)"
    if target.is_file():
        return _parse(target.read_text(encoding="utf-8"), str(target)), f"{target} as it was before this run"
    return None, f"none: no committed or earlier {target}"


def verdicts(data: dict[str, Any]) -> dict[str, str]:
    """{id: verdict} of every reading and claim of a readings.json."""
    entries = list(data.get("readings", [])) + list(data.get("claims", []))
    return {str(e["id"]): str(e.get("verdict", "")) for e in entries if isinstance(e, dict) and "id" in e}


def classify(before: str | None, after: str | None) -> str:
    if before is None:
        return "new"
    if after is None:
        return "gone"
    if before == after:
        return "held"
    if before in UNDECIDED:
        return "gained"
    if after in UNDECIDED:
        return "lost"
    return "contradicted" if opposite(before, after) else "shifted"


def compare(current: dict[str, Any], reference: dict[str, Any]) -> list[Change]:
    now, ref = verdicts(current), verdicts(reference)
    ids = list(now) + [i for i in ref if i not in now]
    return [Change(i, classify(ref.get(i), now.get(i)), ref.get(i, ""), now.get(i, "")) for i in ids]


def summary_line(changes: list[Change]) -> str:
    counts = {k: sum(c.kind == k for c in changes) for k in KINDS}
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing to compare"


def section(changes: list[Change] | None, source: str, current: dict[str, Any],
            reference: dict[str, Any] | None) -> list[str]:
    """REPORT.md's replication section: the two stamps, the counts, an error line per contradiction, the rest."""
    lines = ["## Replication against the reference", "",
             f"Reference: {source}. This run: {stamps.describe(current.get('stamp'))}."]
    if changes is None or reference is None:
        return lines + ["", "*No reference readings: nothing to compare.*", ""]
    lines += [f"Reference run: {stamps.describe(reference.get('stamp'))}.", "",
              f"Readings and claims compared by id: {summary_line(changes)}.", ""]
    for c in changes:
        if c.kind == "contradicted":
            lines.append(f"- **ERROR: `{c.id}` was `{c.before}` in the reference and is `{c.after}` here** "
                         "(a decided reading contradicted by a decided opposite one).")
    for kind, what in (("shifted", "decided, now a different decided verdict"), ("lost", "decided, now inconclusive"),
                       ("gained", "inconclusive, now decided"), ("new", "not in the reference"),
                       ("gone", "in the reference only")):
        items = [c for c in changes if c.kind == kind]
        if items:
            lines.append(f"- {kind.capitalize()} ({what}): " + "; ".join(
                f"`{c.id}` {c.before or '–'} → {c.after or '–'}" for c in items) + ".")
    held = [c for c in changes if c.kind == "held"]
    if held:
        lines.append(f"- Held ({len(held)}): " + ", ".join(f"`{c.id}`" for c in held) + ".")
    return lines + [""]


def console(changes: list[Change] | None, source: str, reference: dict[str, Any] | None) -> list[str]:
    """What `smartmining report` prints about the replication."""
    if changes is None or reference is None:
        return [f"replication: no reference ({source})"]
    out = [f"replication against {source} ({stamps.describe(reference.get('stamp'))}): {summary_line(changes)}"]
    out += [f"ERROR: {c.id}: {c.before} -> {c.after} (contradicted)" for c in changes if c.kind == "contradicted"]
    out += [f"{c.kind}: {c.id}: {c.before or '-'} -> {c.after or '-'}" for c in changes
            if c.kind not in ("held", "contradicted")]
    return out
