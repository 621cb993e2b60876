"""The select stage: hyperparameters chosen on validation classes, from the selection sweeps' run logs.

Only ``val_*`` columns are read: no test-class number can influence a choice (PAPER.md section 10).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from smartmining.errors import SmartMiningError
from smartmining.runs import SWEEPS, Run, format_value, sweep_run_name, sweep_spec

VALIDATION_PREFIX = "val_"


def validation_score(epochs_csv: Path, metric: str) -> float:
    """The run's validation metric at its last epoch (``metric`` without the prefix, e.g. recall@1)."""
    column = VALIDATION_PREFIX + metric
    try:
        df = pd.read_csv(epochs_csv, usecols=lambda c: c == "epoch" or c.startswith(VALIDATION_PREFIX))
    except FileNotFoundError:
        raise SmartMiningError(f"{epochs_csv}: no such file (expected a selection run's epochs.csv)") from None
    if column not in df.columns:
        raise SmartMiningError(f"{epochs_csv}: no column {column!r}; the dataset needs validation classes "
                               f"(data.<dataset>.val_classes > 0) for the select stage")
    values = df.sort_values("epoch")[column].dropna()
    if values.empty:
        raise SmartMiningError(f"{epochs_csv}: column {column!r} holds no value")
    return float(values.iloc[-1])


def select(cfg: dict[str, Any], dataset: str, runs_root: Path, metric: str) -> dict[str, Any]:
    """Per selection sweep: each value's validation score (mean over the sweep's seeds) and the best one.

    Ties go to the value listed first in params.yaml."""
    out: dict[str, Any] = {}
    for sweep, kind in SWEEPS.items():
        spec = sweep_spec(cfg, sweep)
        if not kind.selects or not spec["values"]:
            continue
        scores: dict[str, float] = {}
        for value in spec["values"]:
            per_seed = [validation_score(Path(runs_root) / Run(dataset, sweep_run_name(sweep, value), int(s)).folder
                                         / "epochs.csv", metric) for s in spec["seeds"]]
            scores[format_value(value)] = sum(per_seed) / len(per_seed)
        best = max(scores, key=lambda v: (scores[v], -list(scores).index(v)))
        if math.isnan(scores[best]):
            raise SmartMiningError(f"select: every {sweep} sweep point has a NaN validation {metric}")
        out[kind.selects] = {"chosen": float(best), "metric": VALIDATION_PREFIX + metric, "values": scores,
                             "method": spec["method"], "seeds": list(spec["seeds"]), "parameter": kind.parameter}
    return out
