"""The select stage: each method's hyperparameters chosen on validation classes, from its tuning runs' logs.

Only ``val_*`` columns are read: no test-class number can influence a choice (PAPER.md section 10).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from smartmining.errors import SmartMiningError
from smartmining.runs import Run
from smartmining.tuning import design, tuning_run_name, tuning_spec

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
    """Per method of the matrix: each tuning point's validation score (mean over the tuning seeds) and the
    best point, whose values the method's final runs and robustness sweeps then train with.

    Ties go to the point listed first by the design (smartmining.tuning)."""
    tuning = tuning_spec(cfg)
    methods: dict[str, Any] = {}
    for method in cfg["methods"]:
        points = design(cfg, method)
        if not points:
            continue
        tried = []
        for index, values in enumerate(points):
            name = tuning_run_name(method, index)
            per_seed = [validation_score(Path(runs_root) / Run(dataset, name, int(s)).folder / "epochs.csv", metric)
                        for s in tuning["seeds"]]
            tried.append({"run": name, "values": values, "score": sum(per_seed) / len(per_seed)})
        best = max(range(len(tried)), key=lambda i: (tried[i]["score"], -i))
        if math.isnan(tried[best]["score"]):
            raise SmartMiningError(f"select: every tuning run of {method!r} has a NaN validation {metric}")
        methods[method] = {"chosen": tried[best]["values"], "chosen_run": tried[best]["run"], "tried": tried,
                           "n_runs": len(tried) * len(tuning["seeds"])}
    return {"metric": VALIDATION_PREFIX + metric, "seeds": [int(s) for s in tuning["seeds"]],
            "runs_per_method": int(tuning.get("runs_per_method") or 0), "methods": methods}
