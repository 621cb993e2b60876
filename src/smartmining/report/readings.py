"""Readings of the numbers, generated (never hand-written): each function returns Markdown sentences.

Every comparison of two methods is a paired difference over the seeds both ran, with its 95% t-interval;
an interval that contains 0 reads "no detectable difference". A difference is never set against a std.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from smartmining.report.convergence import paper_claim
from smartmining.report.curves import at_budget, metric_label
from smartmining.report.stats import NO_DIFFERENCE, Paired, format_interval, paired, verdict

# (section title, pairs (a, b)) of the per-triplet comparisons on the final test metrics.
COMPARISONS = (
    ("Smart mining vs random triplets", (("smart", "random"), ("smart+global", "random+global"))),
    ("Smart mining vs semi-hard", (("smart", "semihard"), ("smart+global+adaptive", "semihard"))),
    ("The global loss", (("smart+global", "smart"), ("random+global", "random"))),
    ("Fixed vs adaptive κ", (("smart+global+adaptive", "smart+global"), ("smart+adaptive", "smart"))),
)
PER_COMPUTE = (("smart", "semihard"), ("smart+global+adaptive", "semihard"), ("smart", "random"))
LABELS = {"recall@1": "R@1", "recall@8": "R@8", "nmi": "NMI", "map@r": "MAP@R"}


def seed_values(finals: pd.DataFrame, dataset: str, run: str, metric: str) -> dict[int, float]:
    sel = finals[(finals["dataset"] == dataset) & (finals["run"] == run) & (finals["metric"] == metric)]
    return {int(s): float(v) for s, v in zip(sel["seed"], sel["value"])}


def describe(p: Paired, what: str, scale: float = 100.0, unit: str = "points") -> str:
    """One sentence: the means over the shared seeds, the paired difference with its interval, the verdict."""
    iv = p.interval
    seeds = ", ".join(str(s) for s in p.seeds)
    return (f"`{p.a}` vs `{p.b}`, {what}: paired difference {format_interval(iv, scale, 2, signed=True)} {unit} "
            f"(95% t-interval over {iv.n} shared seed{'s' if iv.n != 1 else ''}: {seeds or 'none'}): "
            f"**{verdict(p)}**.")


def compare_finals(finals: pd.DataFrame, dataset: str, a: str, b: str, metric: str = "recall@1") -> str | None:
    """The paired comparison of two runs' final test ``metric``; None where either did not run."""
    va, vb = seed_values(finals, dataset, a, metric), seed_values(finals, dataset, b, metric)
    if not va or not vb:
        return None
    p = paired(va, vb, (a, b))
    means = (f" (means over the shared seeds {100 * np.mean([va[s] for s in p.seeds]):.2f} vs "
             f"{100 * np.mean([vb[s] for s in p.seeds]):.2f})") if p.seeds else ""
    return describe(p, f"test {LABELS.get(metric, metric)}{means}")


def per_triplet(finals: pd.DataFrame, dataset: str) -> list[tuple[str, list[str]]]:
    """(title, sentences) per comparison of COMPARISONS: R@1 and NMI at the equal triplet budget."""
    out = []
    for title, pairs in COMPARISONS:
        lines = [s for a, b in pairs for m in ("recall@1", "nmi") if (s := compare_finals(finals, dataset, a, b, m))]
        missing = [f"`{a}`/`{b}`" for a, b in pairs if not seed_values(finals, dataset, a, "recall@1")
                   or not seed_values(finals, dataset, b, "recall@1")]
        if missing:
            lines.append("Not run, so not compared: " + ", ".join(missing) + ".")
        out.append((title, lines))
    return out


def per_compute(curves: pd.DataFrame, dataset: str, budgets: dict[str, float], metric: str) -> list[str]:
    """The PER_COMPUTE pairs compared at equal compute: ``metric`` interpolated per seed at the budget."""
    out = []
    have = set(curves.loc[curves["dataset"] == dataset, "run"])
    what = {"cum_passes": "compute passes", "cum_seconds": "training seconds"}
    for a, b in PER_COMPUTE:
        if a not in have or b not in have:
            continue
        for axis, budget in budgets.items():
            if math.isnan(budget):
                continue
            p = paired(at_budget(curves, dataset, a, metric, axis, budget),
                       at_budget(curves, dataset, b, metric, axis, budget), (a, b))
            out.append(describe(p, f"{metric_label(metric)} at equal compute, anytime ({amount(budget)} {what[axis]})"))
    if not out:
        return ["No pair to compare at equal compute (the logs lack compute/image passes and t_epoch, or the methods did not run)."]
    return out


def amount(x: float) -> str:
    """5,400 / 7.83: thousands separated, small numbers to 3 significant digits."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def adaptive_speed(comparison: dict[str, Any] | None, metric: str) -> list[str]:
    """The convergence claim: paired ratios adaptive / fixed of epochs and seconds to 95% of the best."""
    if comparison is None:
        return ["No adaptive method beside its fixed-κ counterpart: the convergence claim is not tested here."]
    a, f = comparison["adaptive"], comparison["fixed"]
    ep, sec, diff = comparison["epochs"], comparison["seconds"], comparison["epoch_diff"]
    return [
        f"Epochs to 95% of each seed's best {metric_label(metric)}, `{a}` / `{f}`: paired ratio "
        f"{format_interval(ep.interval, 1, 2)} (mean over seeds of the per-seed ratio, 95% t-interval, {ep.interval.n} "
        f"seeds); in seconds {format_interval(sec.interval, 1, 2)}; as a paired difference "
        f"{format_interval(diff.interval, 1, 1, signed=True)} epochs: **{verdict(diff, higher_is_better=False)}**"
        f"{'' if verdict(diff, False) == NO_DIFFERENCE else ' (fewer epochs to 95%)'}.",
        paper_claim(ep, comparison["epochs_run"]),
    ]


def plateau(check: pd.DataFrame, metric: str) -> list[str]:
    """Flag every run whose mean validation R@1 moved by 1 point or more over its last two epochs."""
    if check.empty:
        return ["No per-epoch validation curves to judge convergence by."]
    bad = check[~check["converged"]]
    if bad.empty:
        return [f"All {len(check)} runs plateaued: the mean {metric_label(metric)} changed by less than 1 point "
                "over each run's last two epochs."]
    parts = [f"`{r.run}` ({r.change:+.2f} points to epoch {r.last_epoch})" if not math.isnan(r.change)
             else f"`{r.run}` (one epoch only)" for r in bad.itertuples()]
    return [f"**Not converged** (mean {metric_label(metric)} changed by 1 point or more over the last two epochs, "
            f"or cannot be judged): {', '.join(parts)}. Their final numbers may still be rising or falling."]


def sweep_reading(sweep: pd.DataFrame, what: str, chosen: float | None, metric: str = "recall@1") -> list[str]:
    """The test metric over a sweep (a description, not a choice) and the value chosen on validation."""
    d = sweep[sweep["metric"] == metric].sort_values("x")
    if d.empty:
        return [f"No {what} sweep in the logs."]
    values = ", ".join(f"{x:g}: {100 * m:.2f}" for x, m in zip(d["x"], d["mean"]))
    pick = (f"The value chosen on validation classes: {chosen:g}." if chosen is not None
            else f"No validation choice of {what} in the selection file.")
    return [f"Test {LABELS.get(metric, metric)} over the {what} sweep ({values}): spread "
            f"{100 * (d['mean'].max() - d['mean'].min()):.2f} points. {pick}"]


def trend(x: np.ndarray, y: np.ndarray) -> str:
    """'rises', 'falls' or 'has no monotone trend' with x (strict order of y along sorted x)."""
    order = np.argsort(x)
    dy = np.diff(np.asarray(y, dtype=float)[order])
    if len(dy) and (dy > 0).all():
        return "rises"
    if len(dy) and (dy < 0).all():
        return "falls"
    return "has no monotone trend"


def fraction_effect(sweep: pd.DataFrame, last_errors: pd.DataFrame, chosen: float | None) -> list[str]:
    out = sweep_reading(sweep, "mined fraction", chosen)
    d = sweep[sweep["metric"] == "recall@1"]
    if len(d) > 1:
        out.append(f"Final test R@1 {trend(d['x'].to_numpy(), d['mean'].to_numpy())} with the mined fraction.")
    if len(last_errors) > 1:
        out.append(f"The last epoch's training error {trend(last_errors['x'].to_numpy(), last_errors['train_error'].to_numpy())} "
                   "with the mined fraction (" + ", ".join(f"{x:g}: {e:.3f}" for x, e in zip(last_errors["x"], last_errors["train_error"])) + ").")
    return out
