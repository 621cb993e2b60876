"""Speed of convergence (PAPER.md section 9, Fig. 4): when the mean R@1 curve first reaches 95% of its best.

The paper claims the adaptive controller converges in about 4 epochs against about 20 for a fixed kappa.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

FRACTION_OF_BEST = 0.95
ADAPTIVE_PAIRS = (("smart+global+adaptive", "smart+global"), ("smart+adaptive", "smart"))


def first_reaching(values: Sequence[float], fraction: float = FRACTION_OF_BEST) -> int | None:
    """Position of the first value >= fraction * max(values), NaNs ignored; None for an all-NaN curve."""
    v = np.asarray(values, dtype=float)
    if v.size == 0 or np.isnan(v).all():
        return None
    threshold = fraction * np.nanmax(v)
    return int(np.flatnonzero(np.nan_to_num(v, nan=-np.inf) >= threshold)[0])


def mean_curve(curves: pd.DataFrame, dataset: str, run: str, metric: str = "recall@1") -> pd.DataFrame:
    """Per epoch over seeds: mean, std, min, max of ``metric`` and the mean cumulative wall-clock seconds.

    Seconds are the cumulative t_epoch of each seed (training, mining and the per-epoch evaluation),
    averaged over seeds.
    """
    sel = curves[(curves["dataset"] == dataset) & (curves["run"] == run)].copy()
    cols = ["epoch", "mean", "std", "min", "max", "seconds", "n_seeds"]
    if sel.empty:
        return pd.DataFrame(columns=cols)
    sel = sel.sort_values(["seed", "epoch"])
    t = sel["t_epoch"] if "t_epoch" in sel.columns else pd.Series(np.nan, index=sel.index)
    sel["seconds"] = t.fillna(0.0).groupby(sel["seed"]).cumsum()
    g = sel.groupby("epoch")
    out = pd.DataFrame({
        "mean": g[metric].mean(), "std": g[metric].std(ddof=1), "min": g[metric].min(), "max": g[metric].max(),
        "seconds": g["seconds"].mean(), "n_seeds": g[metric].count(),
    }).reset_index()
    return out[cols]


def convergence_table(curves: pd.DataFrame, dataset: str, methods: list[str],
                      fraction: float = FRACTION_OF_BEST) -> pd.DataFrame:
    """Per method: best mean R@1, the threshold, and the epoch and seconds at which the mean curve first
    reaches it."""
    rows = []
    for run in methods:
        mc = mean_curve(curves, dataset, run).dropna(subset=["mean"])
        pos = first_reaching(mc["mean"].to_numpy(), fraction) if len(mc) else None
        if pos is None:
            continue
        best = float(mc["mean"].max())
        rows.append({"method": run, "best_r1": best, "threshold": fraction * best,
                     "epoch": int(mc["epoch"].iloc[pos]), "seconds": float(mc["seconds"].iloc[pos]),
                     "final_r1": float(mc["mean"].iloc[-1]), "epochs_run": int(mc["epoch"].iloc[-1])})
    return pd.DataFrame(rows, columns=["method", "best_r1", "threshold", "epoch", "seconds", "final_r1", "epochs_run"])


def adaptive_ratio(table: pd.DataFrame) -> dict[str, float | str] | None:
    """Adaptive over fixed kappa, in epochs and seconds to 95% of best, for the first pair present."""
    by = table.set_index("method")
    for adaptive, fixed in ADAPTIVE_PAIRS:
        if adaptive in by.index and fixed in by.index:
            a, f = by.loc[adaptive], by.loc[fixed]
            return {"adaptive": adaptive, "fixed": fixed,
                    "epoch_ratio": a["epoch"] / f["epoch"] if f["epoch"] else math.nan,
                    "seconds_ratio": a["seconds"] / f["seconds"] if f["seconds"] else math.nan}
    return None
