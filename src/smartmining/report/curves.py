"""Per-epoch series of the run logs: which column measures validation recall, the cumulative compute of each
seed (compute passes, training seconds), and a run's curve averaged over seeds. Pure functions on curves.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VAL_R1 = "val_recall@1"
TEST_R1 = "recall@1"
PASSES_COLUMN = "compute_passes"  # epochs.csv: a re-embedded image counted at train.reembed_cost


def validation_metric(curves: pd.DataFrame) -> str:
    """val_recall@1 where the logs have it; older logs only have the test recall@1 per epoch."""
    if VAL_R1 in curves.columns and curves[VAL_R1].notna().any():
        return VAL_R1
    return TEST_R1


def metric_label(metric: str) -> str:
    """'validation R@1' / 'test R@1' / 'validation NMI' for a log column."""
    split = "validation" if metric.startswith("val_") else "test"
    name = metric.removeprefix("val_").replace("recall@", "R@").replace("nmi", "NMI")
    return f"{split} {name}"


def add_cumulative(curves: pd.DataFrame) -> pd.DataFrame:
    """Adds cum_passes (cumulative compute_passes: training passes plus re-embedded images at their measured
    cost; image_passes in older logs) and cum_seconds (cumulative t_epoch - t_eval: training,
    re-embedding and mining, not the evaluation) per dataset, run and seed; epoch 0, the state before
    training, counts as zero. NaN where the logs lack the column."""
    out = curves.sort_values(["dataset", "run", "seed", "epoch"]).copy()
    trained = out["epoch"] > 0
    keys = [out["dataset"], out["run"], out["seed"]]
    passes = _passes(out)
    if passes is not None:
        out["cum_passes"] = passes.where(trained, 0.0).fillna(0.0).groupby(keys).cumsum()
    else:
        out["cum_passes"] = np.nan
    if "t_epoch" in out.columns:
        t_eval = out["t_eval"].fillna(0.0) if "t_eval" in out.columns else 0.0
        seconds = (out["t_epoch"] - t_eval).clip(lower=0.0).where(trained, 0.0).fillna(0.0)
        out["cum_seconds"] = seconds.groupby(keys).cumsum()
    else:
        out["cum_seconds"] = np.nan
    return out.reset_index(drop=True)


def _passes(curves: pd.DataFrame) -> pd.Series | None:
    """compute_passes per row, image_passes where a log predates it; None where the logs have neither."""
    have = [c for c in (PASSES_COLUMN, "image_passes") if c in curves.columns]
    if not have:
        return None
    return curves[have[0]].fillna(curves[have[-1]])


def run_rows(curves: pd.DataFrame, dataset: str, run: str) -> pd.DataFrame:
    """One run's rows (every seed) with the cumulative columns."""
    sel = curves[(curves["dataset"] == dataset) & (curves["run"] == run)]
    return add_cumulative(sel) if len(sel) else sel.assign(cum_passes=[], cum_seconds=[])


def mean_curve(curves: pd.DataFrame, dataset: str, run: str, metric: str = TEST_R1) -> pd.DataFrame:
    """Per epoch over seeds: mean, std, min, max and count of ``metric``, and the mean cumulative training
    seconds and compute passes."""
    cols = ["epoch", "mean", "std", "min", "max", "seconds", "passes", "n_seeds"]
    sel = run_rows(curves, dataset, run)
    if sel.empty or metric not in sel.columns:
        return pd.DataFrame(columns=cols)
    g = sel.groupby("epoch")
    out = pd.DataFrame({
        "mean": g[metric].mean(), "std": g[metric].std(ddof=1), "min": g[metric].min(), "max": g[metric].max(),
        "seconds": g["cum_seconds"].mean(), "passes": g["cum_passes"].mean(), "n_seeds": g[metric].count(),
    }).reset_index()
    return out[cols]


def at_budget(curves: pd.DataFrame, dataset: str, run: str, metric: str, x: str, budget: float) -> dict[int, float]:
    """Per seed: ``metric`` interpolated linearly at ``budget`` of the cumulative column ``x``
    (cum_passes or cum_seconds); NaN for a seed whose logs stop short of the budget."""
    out: dict[int, float] = {}
    for seed, d in run_rows(curves, dataset, run).groupby("seed"):
        d = d.dropna(subset=[metric, x])
        if d.empty or d[x].max() < budget:
            out[int(seed)] = float("nan")
            continue
        out[int(seed)] = float(np.interp(budget, d[x].to_numpy(), d[metric].to_numpy()))
    return out
