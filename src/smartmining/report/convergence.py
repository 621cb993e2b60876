"""Speed of convergence (PAPER.md section 9, Figs. 3-4) and the plateau check (section 10).

Per seed, a run converges at the first trained epoch whose validation R@1 reaches 95% of that seed's best.
The paper claims the adaptive controller converges in about 4 epochs against about 20 for a fixed kappa
(ratio 0.2, "about 5x fewer epochs"); we test it with the paired ratio adaptive / fixed over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from smartmining.report.curves import mean_curve, run_rows
from smartmining.report.stats import Paired, mean_interval, paired

FRACTION_OF_BEST = 0.95
ADAPTIVE_PAIRS = (("smart+global+adaptive", "smart+global"), ("smart+adaptive", "smart"))
PAPER_RATIO = 0.2  # about 4 epochs against about 20
PLATEAU_POINTS = 1.0  # a change of this many points of R@1 over the last two epochs: not converged
CONVERGENCE_COLUMNS = ["method", "n_seeds", "best_mean", "epoch_mean", "epoch_lo", "epoch_hi",
                       "seconds_mean", "seconds_lo", "seconds_hi", "epochs_run"]


def first_reaching(values: Sequence[float], fraction: float = FRACTION_OF_BEST) -> int | None:
    """Position of the first value >= fraction * max(values), NaNs ignored; None for an all-NaN curve."""
    v = np.asarray(values, dtype=float)
    if v.size == 0 or np.isnan(v).all():
        return None
    threshold = fraction * np.nanmax(v)
    return int(np.flatnonzero(np.nan_to_num(v, nan=-np.inf) >= threshold)[0])


def seed_convergence(curves: pd.DataFrame, dataset: str, run: str, metric: str,
                     fraction: float = FRACTION_OF_BEST) -> pd.DataFrame:
    """Per seed: its best ``metric`` over the trained epochs (epoch >= 1), and the epoch and cumulative
    training seconds at which it first reaches ``fraction`` of that best."""
    rows = []
    sel = run_rows(curves, dataset, run)
    if metric in sel.columns:
        for seed, d in sel[sel["epoch"] >= 1].groupby("seed"):
            d = d.dropna(subset=[metric]).sort_values("epoch")
            pos = first_reaching(d[metric].to_numpy(), fraction)
            if pos is None:
                continue
            rows.append({"seed": int(seed), "best": float(d[metric].max()), "epoch": int(d["epoch"].iloc[pos]),
                         "seconds": float(d["cum_seconds"].iloc[pos]), "epochs_run": int(d["epoch"].iloc[-1])})
    return pd.DataFrame(rows, columns=["seed", "best", "epoch", "seconds", "epochs_run"])


def convergence_table(curves: pd.DataFrame, dataset: str, methods: list[str], metric: str,
                      fraction: float = FRACTION_OF_BEST) -> pd.DataFrame:
    """Per method: mean best, and the epochs and seconds to ``fraction`` of the best, mean with 95% interval."""
    rows = []
    for run in methods:
        sc = seed_convergence(curves, dataset, run, metric, fraction)
        if sc.empty:
            continue
        ep, sec = mean_interval(sc["epoch"].tolist()), mean_interval(sc["seconds"].tolist())
        rows.append({"method": run, "n_seeds": ep.n, "best_mean": float(sc["best"].mean()),
                     "epoch_mean": ep.mean, "epoch_lo": ep.lo, "epoch_hi": ep.hi,
                     "seconds_mean": sec.mean, "seconds_lo": sec.lo, "seconds_hi": sec.hi,
                     "epochs_run": int(sc["epochs_run"].max())})
    return pd.DataFrame(rows, columns=CONVERGENCE_COLUMNS)


def adaptive_comparison(curves: pd.DataFrame, dataset: str, methods: list[str], metric: str,
                        fraction: float = FRACTION_OF_BEST) -> dict[str, Any] | None:
    """Adaptive over fixed kappa, for the first pair of ADAPTIVE_PAIRS that ran: the paired ratios
    (per seed adaptive / fixed) of the epochs and of the seconds to 95% of the best."""
    for adaptive, fixed in ADAPTIVE_PAIRS:
        if adaptive not in methods or fixed not in methods:
            continue
        a = seed_convergence(curves, dataset, adaptive, metric, fraction).set_index("seed")
        f = seed_convergence(curves, dataset, fixed, metric, fraction).set_index("seed")
        if a.empty or f.empty:
            continue
        names = (adaptive, fixed)
        return {"adaptive": adaptive, "fixed": fixed,
                "epochs": paired(a["epoch"].to_dict(), f["epoch"].to_dict(), names, ratio=True),
                "seconds": paired(a["seconds"].to_dict(), f["seconds"].to_dict(), names, ratio=True),
                "epoch_diff": paired(a["epoch"].to_dict(), f["epoch"].to_dict(), names),
                "epochs_run": int(max(a["epochs_run"].max(), f["epochs_run"].max()))}
    return None


def paper_claim(ratio: Paired, epochs_run: int) -> str:
    """A plain sentence: does the paper's "about 5x fewer epochs" (ratio about 0.2) hold here?"""
    iv = ratio.interval
    if iv.n < 2 or math.isnan(iv.lo):
        head = f"cannot be judged here: {iv.n} shared seed(s), so the ratio {iv.mean:.2f} has no interval"
    elif iv.lo > 1:
        head = "does not hold on our data: the adaptive controller takes more epochs than the fixed κ"
    elif iv.contains(1.0):
        head = "does not hold on our data: no detectable difference in epochs to 95% of the best"
    elif iv.lo <= PAPER_RATIO:
        head = "holds on our data: the interval of the ratio reaches 0.2 (5x) or below"
    else:
        head = ("holds only in part: the adaptive controller needs detectably fewer epochs, but the interval "
                "excludes 0.2, so not about 5x fewer")
    note = (f" With {epochs_run} epochs run, a fixed-κ run cannot take the paper's 20, so the ratio cannot reach "
            f"0.2 unless the adaptive run converges within {max(1, epochs_run // 5)} epoch(s).") if epochs_run < 20 else ""
    return f"The paper's claim of about 5x fewer epochs {head}.{note}"


def plateau_check(curves: pd.DataFrame, dataset: str, runs: list[str], metric: str,
                  points: float = PLATEAU_POINTS) -> pd.DataFrame:
    """Per run: the change of the mean (over seeds) ``metric`` over its last two epochs, in points, and
    whether it is ``points`` or more (not converged); a run with a single epoch cannot be judged."""
    rows = []
    for run in runs:
        mc = mean_curve(curves, dataset, run, metric).dropna(subset=["mean"])
        if mc.empty:
            continue
        change = 100 * float(mc["mean"].iloc[-1] - mc["mean"].iloc[-2]) if len(mc) > 1 else math.nan
        rows.append({"run": run, "last_epoch": int(mc["epoch"].iloc[-1]), "change": change,
                     "converged": bool(abs(change) < points - 1e-9) if not math.isnan(change) else False})
    return pd.DataFrame(rows, columns=["run", "last_epoch", "change", "converged"])
