"""Speed of convergence measured on the gain over the pretrained network (PAPER.md sections 9-10, issue 22),
and the plateau check.

Per seed, epoch 0 (row 0 of epochs.csv) is the pretrained network before any training. The gain is the
seed's best validation R@1 over the trained epochs minus its epoch-0 value; a run converges at the first
trained epoch whose validation R@1 reaches epoch 0 + 95% of that gain. A seed that never rises above its
epoch 0 has no gain, so no convergence epoch. Beside it: the area under the validation R@1 curve divided
by the epochs it spans (the mean R@1 over training), and the validation R@1 at epochs 0, 1 and 2.
The paper claims the adaptive controller converges in about 4 epochs against about 20 for a fixed kappa
(ratio about 0.2); claims.py tests it as a paired difference of epochs with an equivalence margin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from smartmining.report.curves import mean_curve, run_rows
from smartmining.report.stats import Paired, mean_interval, paired

FRACTION_OF_GAIN = 0.95
FRACTION_OF_BEST = FRACTION_OF_GAIN  # the former name
ADAPTIVE_PAIRS = (("smart+global+adaptive", "smart+global"), ("smart+adaptive", "smart"))
PAPER_RATIO = 0.2  # about 4 epochs against about 20
PLATEAU_POINTS = 1.0  # a change of this many points of R@1 over the last two epochs: not converged
EARLY_EPOCHS = (0, 1, 2)
SEED_COLUMNS = ["seed", *(f"at{e}" for e in EARLY_EPOCHS), "best", "gain", "epoch", "seconds", "auc", "epochs_run"]
CONVERGENCE_COLUMNS = ["method", "n_seeds", *(f"at{e}_mean" for e in EARLY_EPOCHS), "best_mean", "gain_mean",
                       "no_gain", *(f"{k}_{s}" for k in ("epoch", "seconds", "auc") for s in ("mean", "lo", "hi")),
                       "epochs_run"]


def fixed_counterpart(adaptive: str) -> str:
    """The fixed-kappa method an adaptive one is compared with: smart+global+adaptive(-paper) -> smart+global."""
    return adaptive.split("+adaptive")[0]


def first_reaching(values: Sequence[float], fraction: float = FRACTION_OF_GAIN) -> int | None:
    """Position of the first value >= fraction * max(values), NaNs ignored; None for an all-NaN curve."""
    v = np.asarray(values, dtype=float)
    if v.size == 0 or np.isnan(v).all():
        return None
    threshold = fraction * np.nanmax(v)
    return int(np.flatnonzero(np.nan_to_num(v, nan=-np.inf) >= threshold)[0])


def first_reaching_gain(start: float, values: Sequence[float], fraction: float = FRACTION_OF_GAIN) -> int | None:
    """Position in ``values`` (the trained epochs) of the first value >= start + fraction * (max - start);
    None where there is no gain (max <= start), no start or no value."""
    v = np.asarray(values, dtype=float)
    if math.isnan(start) or v.size == 0 or np.isnan(v).all() or np.nanmax(v) <= start:
        return None
    threshold = start + fraction * (np.nanmax(v) - start)
    return int(np.flatnonzero(np.nan_to_num(v, nan=-np.inf) >= threshold - 1e-12)[0])


def normalised_area(epochs: np.ndarray, values: np.ndarray) -> float:
    """Trapezoidal area under the curve divided by the epochs it spans: its mean height; NaN below 2 points."""
    ok = ~np.isnan(values)
    e, v = epochs[ok].astype(float), values[ok]
    if e.size < 2 or e[-1] == e[0]:
        return math.nan
    return float(np.sum((v[1:] + v[:-1]) * np.diff(e)) / 2 / (e[-1] - e[0]))


def seed_measures(curves: pd.DataFrame, dataset: str, run: str, metric: str,
                  fraction: float = FRACTION_OF_GAIN) -> pd.DataFrame:
    """Per seed: ``metric`` at epochs 0-2, the best over trained epochs, the gain over epoch 0, the epoch and
    cumulative training seconds at which ``fraction`` of the gain is first reached, and the normalised area."""
    rows = []
    sel = run_rows(curves, dataset, run)
    if metric not in sel.columns:
        return pd.DataFrame(columns=SEED_COLUMNS)
    for seed, d in sel.groupby("seed"):
        d = d.sort_values("epoch")
        at = {e: float(d.loc[d["epoch"] == e, metric].mean()) if (d["epoch"] == e).any() else math.nan
              for e in EARLY_EPOCHS}
        trained = d[(d["epoch"] >= 1) & d[metric].notna()]
        if trained.empty:
            continue
        best = float(trained[metric].max())
        pos = first_reaching_gain(at[0], trained[metric].to_numpy(), fraction)
        rows.append({"seed": int(seed), **{f"at{e}": at[e] for e in EARLY_EPOCHS}, "best": best,
                     "gain": best - at[0], "epoch": math.nan if pos is None else float(trained["epoch"].iloc[pos]),
                     "seconds": math.nan if pos is None else float(trained["cum_seconds"].iloc[pos]),
                     "auc": normalised_area(d["epoch"].to_numpy(), d[metric].to_numpy(dtype=float)),
                     "epochs_run": int(trained["epoch"].iloc[-1])})
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


def convergence_table(curves: pd.DataFrame, dataset: str, methods: list[str], metric: str,
                      fraction: float = FRACTION_OF_GAIN) -> pd.DataFrame:
    """Per method, over seeds: means of the early values, best and gain; seeds without gain; epochs and seconds
    to ``fraction`` of the gain and the normalised area, mean with 95% interval."""
    rows = []
    for run in methods:
        sm = seed_measures(curves, dataset, run, metric, fraction)
        if sm.empty:
            continue
        row: dict[str, Any] = {"method": run, "n_seeds": len(sm), "best_mean": float(sm["best"].mean()),
                               "gain_mean": float(sm["gain"].mean()), "no_gain": int(sm["epoch"].isna().sum()),
                               "epochs_run": int(sm["epochs_run"].max())}
        row.update({f"at{e}_mean": float(sm[f"at{e}"].mean()) for e in EARLY_EPOCHS})
        for key in ("epoch", "seconds", "auc"):
            iv = mean_interval(sm[key].tolist())
            row.update({f"{key}_mean": iv.mean, f"{key}_lo": iv.lo, f"{key}_hi": iv.hi})
        rows.append(row)
    return pd.DataFrame(rows, columns=CONVERGENCE_COLUMNS)


def per_seed(curves: pd.DataFrame, dataset: str, run: str, metric: str, key: str,
             fraction: float = FRACTION_OF_GAIN) -> dict[int, float]:
    """{seed: measure} of one run (key: epoch, seconds, auc, gain, ...)."""
    sm = seed_measures(curves, dataset, run, metric, fraction)
    return {int(s): float(v) for s, v in zip(sm["seed"], sm[key])}


def adaptive_comparison(curves: pd.DataFrame, dataset: str, adaptive: str, metric: str,
                        fraction: float = FRACTION_OF_GAIN) -> dict[str, Any] | None:
    """An adaptive method over its fixed-kappa counterpart: the paired ratios (per seed adaptive / fixed) of the
    epochs and of the seconds to ``fraction`` of the gain, and the per-seed epochs of each; None without both."""
    fixed = fixed_counterpart(adaptive)
    a = seed_measures(curves, dataset, adaptive, metric, fraction).set_index("seed")
    f = seed_measures(curves, dataset, fixed, metric, fraction).set_index("seed")
    if a.empty or f.empty:
        return None
    names = (adaptive, fixed)
    return {"adaptive": adaptive, "fixed": fixed, "epochs_a": a["epoch"].to_dict(), "epochs_f": f["epoch"].to_dict(),
            "epochs": paired(a["epoch"].to_dict(), f["epoch"].to_dict(), names, ratio=True),
            "seconds": paired(a["seconds"].to_dict(), f["seconds"].to_dict(), names, ratio=True),
            "epochs_run": int(max(a["epochs_run"].max(), f["epochs_run"].max()))}


def paper_claim(ratio: Paired, epochs_run: int) -> str:
    """A plain sentence: where does the ratio of epochs stand against the paper's "about 5x fewer" (about 0.2)?
    A description of the interval; the verdict is C4's (a paired difference with an equivalence margin)."""
    iv = ratio.interval
    if iv.n < 2 or math.isnan(iv.lo):
        head = f"cannot be placed: {iv.n} shared seed(s), so the ratio has no interval"
    elif iv.lo > 1:
        head = "is not met: the interval of the ratio lies above 1 (more epochs than the fixed κ)"
    elif iv.contains(1.0):
        head = "is not shown: the interval of the ratio contains 1"
    elif iv.lo <= PAPER_RATIO:
        head = "is within reach: the interval of the ratio reaches 0.2 (5x) or below"
    else:
        head = "is met only in part: the interval of the ratio lies below 1 but excludes 0.2, so not about 5x"
    note = (f" With {epochs_run} epochs run, a fixed-κ run cannot take the paper's 20, so the ratio cannot reach "
            f"0.2 unless the adaptive run converges within {max(1, epochs_run // 5)} epoch(s).") if epochs_run < 20 else ""
    return f"The paper's \"about 5x fewer epochs\" (ratio about 0.2) {head}.{note}"


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
