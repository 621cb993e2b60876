"""The equal-compute view (PAPER.md section 10) and the regime table, from the per-epoch logs.

Equal triplet budgets make the comparison fair per triplet; offline miners still spend more per epoch
(re-embedding the training set, the index). So beside the final metrics: each method's compute passes and
training seconds per epoch, and the validation R@1 every method reached at the compute the cheapest
method spent in all (the equal budget).

Compute passes count a training image once and a no-gradient re-embedded image at its measured cost
(``train.reembed_cost``, benchmarks/bench_pass_cost.py), not as a training pass. The view is "anytime":
every method runs its own schedule (epochs, learning-rate steps) and is read where its curve crosses the
budget, so the costlier methods are stopped early, mid-schedule; no run was retrained for the budget.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from smartmining.report.curves import PASSES_COLUMN, add_cumulative, at_budget
from smartmining.report.stats import mean_interval

BUDGET_AXES = {"cum_passes": "compute passes", "cum_seconds": "training seconds"}
REGIME_COLUMN = "random_zero_loss"


def equal_budgets(curves: pd.DataFrame, dataset: str, methods: list[str]) -> dict[str, float]:
    """Per axis (cum_passes, cum_seconds): the least total any seed of any method spent; NaN without logs."""
    sel = add_cumulative(curves[(curves["dataset"] == dataset) & curves["run"].isin(methods)])
    out = {}
    for axis in BUDGET_AXES:
        totals = sel.groupby(["run", "seed"])[axis].max() if len(sel) else pd.Series(dtype=float)
        totals = totals[totals > 0]
        out[axis] = float(totals.min()) if len(totals) else math.nan
    return out


def compute_table(curves: pd.DataFrame, dataset: str, methods: list[str], metric: str) -> pd.DataFrame:
    """Per method: mean image passes, compute passes and training seconds per trained epoch, and ``metric`` (validation
    R@1) at the equal budgets of equal_budgets, mean and 95% interval over seeds (fractions)."""
    budgets = equal_budgets(curves, dataset, methods)
    rows = []
    for run in methods:
        sel = curves[(curves["dataset"] == dataset) & (curves["run"] == run) & (curves["epoch"] >= 1)]
        if sel.empty:
            continue
        row: dict[str, Any] = {"method": run, "n_seeds": int(sel["seed"].nunique()),
                               "passes_per_epoch": _mean(sel, "image_passes"), "compute_per_epoch": _mean(sel, PASSES_COLUMN),
                               "seconds_per_epoch": _seconds(sel)}
        for axis, budget in budgets.items():
            iv = mean_interval(list(at_budget(curves, dataset, run, metric, axis, budget).values())
                               if not math.isnan(budget) else [])
            row.update({f"{axis}_budget": budget, f"{axis}_mean": iv.mean, f"{axis}_lo": iv.lo, f"{axis}_hi": iv.hi})
        rows.append(row)
    return pd.DataFrame(rows)


def _mean(sel: pd.DataFrame, column: str) -> float:
    return float(sel[column].mean()) if column in sel.columns and sel[column].notna().any() else math.nan


def _seconds(sel: pd.DataFrame) -> float:
    if "t_epoch" not in sel.columns:
        return math.nan
    t_eval = sel["t_eval"].fillna(0.0) if "t_eval" in sel.columns else 0.0
    return float((sel["t_epoch"] - t_eval).mean())


def regime_table(curves: pd.DataFrame, dataset: str, methods: list[str]) -> pd.DataFrame:
    """Per method, mean over seeds of the share of a fixed probe of random training triplets with zero
    loss: at epoch 0 (before training, where logged), after the first and after the last epoch."""
    cols = ["method", "n_seeds", "epoch0", "first_epoch", "first", "last_epoch", "last"]
    sel = curves[curves["dataset"] == dataset]
    if REGIME_COLUMN not in sel.columns:
        return pd.DataFrame(columns=cols)
    rows = []
    for run in methods:
        d = sel[(sel["run"] == run)].dropna(subset=[REGIME_COLUMN])
        trained = d[d["epoch"] >= 1]
        if trained.empty:
            continue
        first, last = int(trained["epoch"].min()), int(trained["epoch"].max())
        zero = d[d["epoch"] == 0]
        rows.append({"method": run, "n_seeds": int(d["seed"].nunique()),
                     "epoch0": float(zero[REGIME_COLUMN].mean()) if len(zero) else math.nan,
                     "first_epoch": first, "first": float(trained.loc[trained["epoch"] == first, REGIME_COLUMN].mean()),
                     "last_epoch": last, "last": float(trained.loc[trained["epoch"] == last, REGIME_COLUMN].mean())})
    return pd.DataFrame(rows, columns=cols)
