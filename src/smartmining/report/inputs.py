"""The report's inputs beside the run logs: the select stage's choices (selection/<dataset>.json) and what the
kappa controller recorded (controller.json). Files in, DataFrames out; an absent file gives an empty frame.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from smartmining.errors import SmartMiningError
from smartmining.runs import Run
from smartmining.report.runs import read_json

SELECTION_COLUMNS = ["dataset", "hyperparameter", "chosen", "metric", "method", "seed", "values"]
CONTROLLER_COLUMNS = ["dataset", "run", "seed", "epochs", "rules", "flagged_epochs", "flags", "reason", "target_error",
                      "last_kappa"]
MAX_REASON = 240
# The keys every controller history entry has; any other key with a true value is a flag worth showing.
HISTORY_KEYS = {"epoch", "error", "kappa", "kappa_next", "rule", "alpha", "beta"}


def _selection_row(dataset: str, name: str, entry: Any, path: Path) -> dict[str, Any]:
    if not isinstance(entry, dict) or "chosen" not in entry:
        raise SmartMiningError(f'{path}: entry {name!r} should be an object with "chosen", "metric", "values"')
    values = entry.get("values") or {}
    if not isinstance(values, dict):
        raise SmartMiningError(f'{path}: "{name}.values" should map each tried value to its validation score')
    seeds = entry.get("seeds", entry.get("seed", ""))
    return {"dataset": dataset, "hyperparameter": name, "chosen": float(entry["chosen"]),
            "metric": str(entry.get("metric", "")), "method": str(entry.get("method", "")),
            "seed": ", ".join(map(str, seeds)) if isinstance(seeds, list) else str(seeds),
            "values": {float(k): float(v) for k, v in values.items()}}


def _read_selection_file(path: Path, dataset: str) -> list[dict[str, Any]]:
    data = read_json(path, "the selection stage's choices {hyperparameter: {chosen, metric, values}}")
    if not isinstance(data, dict):
        raise SmartMiningError(f"{path}: expected a JSON object, got {type(data).__name__}")
    rows = []
    for key, entry in data.items():
        if not dataset and isinstance(entry, dict) and "chosen" not in entry and all(isinstance(v, dict) for v in entry.values()):
            rows += [_selection_row(key, name, sub, path) for name, sub in entry.items()]
        else:
            rows.append(_selection_row(dataset, key, entry, path))
    return rows


def selection_paths(out_dir: Path, datasets: list[str]) -> list[tuple[Path, str]]:
    """Where the select stage's choices may be: results/<profile>/selection/<dataset>.json (the pipeline's),
    and results/<profile>/selection.json (all datasets, or nested per dataset)."""
    return [(Path(out_dir) / "selection" / f"{d}.json", d) for d in datasets] + [(Path(out_dir) / "selection.json", "")]


def read_selection(out_dir: Path, datasets: list[str]) -> pd.DataFrame:
    """One row per (dataset, hyperparameter) chosen on validation classes; dataset '' where the file names
    none. No file: an empty frame."""
    rows = []
    for path, dataset in selection_paths(out_dir, datasets):
        if path.is_file():
            rows += _read_selection_file(path, dataset)
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def _flags(entry: dict[str, Any]) -> list[str]:
    """The entry's true boolean flags (e.g. unreachable) and short text fields (e.g. clamp=hi); the free-text
    reason is kept apart."""
    out = [k for k, v in entry.items() if k not in HISTORY_KEYS and isinstance(v, bool) and v]
    out += [f"{k}={v}" for k, v in entry.items() if k not in HISTORY_KEYS | {"reason"} and isinstance(v, str) and v]
    if "unreach" in str(entry.get("rule", "")) and not any("unreach" in f for f in out):
        out.append(f"rule={entry['rule']}")
    return out


def controller_summary(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """Epochs controlled, the rule counts, the epochs whose history entry carries a flag, and the last reason
    the controller gave for one."""
    history = state.get("history")
    if not isinstance(history, list):
        raise SmartMiningError(f'{path}: expected a "history" list of per-epoch controller entries')
    rules = Counter(str(h.get("rule", "?")) for h in history)
    flagged, flags, reason = [], Counter(), ""
    for h in history:
        f = _flags(h)
        if f:
            flagged.append(int(h.get("epoch", -1)))
            flags.update(f)
            reason = str(h.get("reason") or reason)
    return {"epochs": len(history), "rules": ", ".join(f"{r} {n}" for r, n in rules.items()),
            "flagged_epochs": flagged, "flags": ", ".join(f"{f} ({n})" for f, n in flags.items()),
            "reason": reason[:MAX_REASON] + ("…" if len(reason) > MAX_REASON else ""),
            "target_error": float(state.get("target_error", float("nan"))),
            "last_kappa": float(state.get("kappa", float("nan")))}


def read_controllers(runs_dir: Path, runs: list[Run]) -> pd.DataFrame:
    """controller.json of every run that has one (the adaptive ones), summarised per run and seed."""
    rows = []
    for run in runs:
        path = Path(runs_dir) / run.folder / "controller.json"
        if path.is_file():
            state = read_json(path, "the kappa controller's state and history")
            if not isinstance(state, dict):
                raise SmartMiningError(f"{path}: expected a JSON object, got {type(state).__name__}")
            rows.append({"dataset": run.dataset, "run": run.name, "seed": run.seed, **controller_summary(state, path)})
    return pd.DataFrame(rows, columns=CONTROLLER_COLUMNS)
