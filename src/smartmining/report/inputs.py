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

SELECTION_COLUMNS = ["dataset", "method", "chosen", "chosen_run", "tried", "n_runs", "metric", "seeds"]
CONTROLLER_COLUMNS = ["dataset", "run", "seed", "epochs", "rules", "flagged_epochs", "flags", "reason", "target_error",
                      "last_kappa"]
MAX_REASON = 240
# The keys every controller history entry has; any other key with a true value is a flag worth showing.
HISTORY_KEYS = {"epoch", "error", "kappa", "kappa_next", "rule", "alpha", "beta"}


def _selection_rows(data: Any, dataset: str, path: Path) -> list[dict[str, Any]]:
    """One row per method of the select stage's file {metric, seeds, methods: {method: {chosen, tried, n_runs}}}."""
    if not isinstance(data, dict) or not isinstance(data.get("methods"), dict):
        raise SmartMiningError(f'{path}: expected the select stage\'s object {{"metric", "seeds", "methods": '
                               f'{{METHOD: {{"chosen", "tried", "n_runs"}}}}}}; run the select stage again')
    rows = []
    for method, entry in data["methods"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("chosen"), dict) or not isinstance(entry.get("tried"), list):
            raise SmartMiningError(f'{path}: methods.{method} should hold "chosen" (parameter -> value) and "tried" (a list)')
        rows.append({"dataset": dataset, "method": method, "chosen": {k: float(v) for k, v in entry["chosen"].items()},
                     "chosen_run": str(entry.get("chosen_run", "")), "tried": entry["tried"],
                     "n_runs": int(entry.get("n_runs", len(entry["tried"]))), "metric": str(data.get("metric", "")),
                     "seeds": ", ".join(map(str, data.get("seeds", [])))})
    return rows


def selection_paths(out_dir: Path, datasets: list[str]) -> list[tuple[Path, str]]:
    """Where the select stage's choices are: results/<profile>/selection/<dataset>.json."""
    return [(Path(out_dir) / "selection" / f"{d}.json", d) for d in datasets]


def read_selection(out_dir: Path, datasets: list[str]) -> pd.DataFrame:
    """One row per (dataset, method) whose values were chosen on validation classes. No file: an empty frame."""
    rows = []
    for path, dataset in selection_paths(out_dir, datasets):
        if path.is_file():
            rows += _selection_rows(read_json(path, "the select stage's choices"), dataset, path)
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def chosen_for_sweeps(selection: pd.DataFrame, cfg: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(dataset, "kappa" | "mined_fraction") -> the value the sweep's method was chosen with (the sweeps' readings)."""
    from smartmining.runs import SWEEPS, sweep_spec

    out = {}
    for sweep, kind in SWEEPS.items():
        methods = sweep_spec(cfg, sweep)["methods"]
        for row in selection.itertuples():
            if methods and row.method == methods[0] and kind.parameter in row.chosen:
                out[(row.dataset, kind.config_key)] = row.chosen[kind.parameter]
    return out


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
