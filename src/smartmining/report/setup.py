"""Readings of how the runs were set up, from the logs: the triplet budget each method trained on, the
neighbour index, random fallbacks, the baselines' floor and what the kappa controller flagged.
Each function returns Markdown sentences."""

from __future__ import annotations

import math

import pandas as pd

from smartmining.report.runs import BASELINES
from smartmining.report.stats import Interval
from smartmining.report.tables import summary_interval

BUDGET_COLUMNS = {"n_triplets": "triplets", "n_steps": "optimizer steps"}


def triplet_budget(curves: pd.DataFrame, dataset: str, methods: list[str]) -> list[str]:
    """Whether every method trained on the same triplets and steps per epoch (PAPER.md section 10)."""
    sel = curves[(curves["dataset"] == dataset) & curves["run"].isin(methods) & (curves["epoch"] >= 1)]
    cols = [c for c in BUDGET_COLUMNS if c in sel.columns and sel[c].notna().any()]
    if sel.empty or not cols:
        return ["The logs have no n_triplets / n_steps columns: the equal triplet budget cannot be checked."]
    per = sel.groupby("run")[cols].agg(lambda v: tuple(sorted(set(v.dropna().astype(int)))))
    distinct = {c: set(per[c]) for c in cols}
    if all(len(v) == 1 for v in distinct.values()):
        parts = " and ".join(f"{', '.join(str(x) for x in next(iter(distinct[c])))} {BUDGET_COLUMNS[c]}" for c in cols)
        return [f"Equal triplet budget: every method trained on {parts} per epoch."]
    rows = "; ".join(f"`{run}` " + ", ".join(f"{BUDGET_COLUMNS[c]} {'/'.join(map(str, r[c]))}" for c in cols)
                     for run, r in per.iterrows())
    return [f"**Unequal budgets** per epoch (the comparison is not at an equal triplet budget): {rows}."]


def baseline_floor(summary: pd.DataFrame, dataset: str, methods: list[str]) -> list[str]:
    """Each baseline's test R@1, and the methods whose 95% interval does not lie above it."""
    out = []
    for name in BASELINES:
        floor = summary_interval(summary, dataset, name, "recall@1")
        if floor is None:
            out.append(f"No {name}-network metrics for this dataset (results/<profile>/{name}/<dataset>/metrics.json).")
            continue
        ivs = {m: iv for m in methods if (iv := summary_interval(summary, dataset, m, "recall@1")) is not None}
        not_above = [m for m, iv in ivs.items() if not _above(iv, floor.mean)]
        head = f"The {name} network reaches test R@1 {100 * floor.mean:.2f}. "
        if not_above:
            out.append(head + "Not detectably above it (the 95% interval reaches it, or one seed at or below it): "
                       + ", ".join(f"`{m}`" for m in not_above) + ".")
        else:
            out.append(head + f"All {len(ivs)} methods lie above it (95% intervals).")
    return out


def _above(iv: Interval, value: float) -> bool:
    return iv.lo > value if not math.isnan(iv.lo) else iv.mean > value


def index_used(curves: pd.DataFrame, dataset: str) -> list[str]:
    """Which neighbour index the mining epochs used and its recall against exact search."""
    sel = curves[curves["dataset"] == dataset]
    if "index" not in sel.columns:
        return ["The logs have no index column."]
    sel = sel[sel["index"].notna() & (sel["index"].astype(str) != "")]
    if sel.empty:
        return ["No epoch mined with a neighbour index."]
    out = []
    for name, d in sel.groupby("index"):
        r = d["index_recall"] if "index_recall" in d.columns else pd.Series(dtype=float)
        runs = ", ".join(f"`{x}`" for x in sorted(d["run"].unique()))
        out.append(f"Index `{name}` in {len(d)} mining epochs ({runs}): recall against exact search "
                   f"mean {r.mean():.3f}, min {r.min():.3f}.")
    return out


def random_fallbacks(curves: pd.DataFrame, dataset: str) -> list[str]:
    """Share of the mined triplets per run that fell back to random ones (no triplet met kappa)."""
    sel = curves[curves["dataset"] == dataset]
    if not {"n_mined", "random_fallbacks"} <= set(sel.columns):
        return []
    sums = sel.groupby("run")[["n_mined", "random_fallbacks"]].sum()
    sums = sums[sums["n_mined"] > 0]
    if sums.empty:
        return []
    parts = ", ".join(f"`{run}` {100 * r.random_fallbacks / r.n_mined:.0f}%" for run, r in sums.iterrows())
    return [f"Mined triplets that fell back to random ones (over all epochs and seeds): {parts}."]


def controller_flags(controllers: pd.DataFrame, dataset: str) -> list[str]:
    """What controller.json recorded: the rules used per run, and every flag (e.g. an unreachable target)."""
    sel = controllers[controllers["dataset"] == dataset]
    if sel.empty:
        return ["No controller.json in the logs (no adaptive run, or logs from before it was written)."]
    out = []
    for run, d in sel.groupby("run", sort=False):
        flagged = d[d["flagged_epochs"].map(len) > 0]
        rules = "; ".join(f"seed {r.seed}: {r.rules}" for r in d.itertuples())
        line = f"`{run}`: controller rules per epoch ({rules})."
        if len(flagged):
            line += " **Flagged** " + "; ".join(
                f"seed {r.seed} at epochs {', '.join(map(str, r.flagged_epochs))} ({r.flags}; target error {r.target_error:g})"
                + (f", last reason: \"{r.reason}\"" if r.reason else "") for r in flagged.itertuples()) + "."
        else:
            line += " No entry carries a flag (such as an unreachable target)."
        out.append(line)
    return out
