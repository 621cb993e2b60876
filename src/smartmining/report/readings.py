"""Readings of the numbers, generated (never hand-written): each function returns Markdown sentences.

Every comparison of two methods is a paired difference over the seeds both ran, with its 95% t-interval and
its Holm-adjusted tests (family.py): "better" only when the difference test survives Holm in its family,
"equivalent within ±margin" only when the equivalence test (TOST) does, "inconclusive" otherwise. A difference
is never set against a std.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from smartmining.report import claims as claims_mod
from smartmining.report.convergence import paper_claim
from smartmining.report.curves import metric_label
from smartmining.report.explore import OTHER_PAIRS, amount  # noqa: F401  (amount: used by sections.py)
from smartmining.report.family import Reading, describe, family_note, verdict_text
from smartmining.report.inference import A_BETTER
from smartmining.report.stats import format_interval

LABELS = {"recall@1": "R@1", "recall@8": "R@8", "nmi": "NMI", "map@r": "MAP@R"}
EXPLORATORY = (("pairs", "Other pairs of methods"), ("nmi", "NMI"), ("compute", "Per compute, anytime"),
               ("pretrained", "Against the pretrained-only network"), ("convergence", "Other adaptive methods"))


def family_lines(readings: list[Reading], dataset: str, family: str, title: str, alpha: float) -> list[str]:
    members = [r for r in readings if r.dataset == dataset and r.family == family]
    if not members:
        return []
    return [f"**{title}.** {family_note(readings, dataset, family, alpha)}", ""] + [f"- {describe(r)}" for r in members] + [""]


def claims_lines(readings: list[Reading], dataset: str, alpha: float) -> list[str]:
    """The primary family in sentences (the claims table is in REPORT.md's first section)."""
    return family_lines(readings, dataset, "primary", "Claims C1-C4 (the primary family)", alpha)


def exploratory_lines(readings: list[Reading], dataset: str, methods: list[str], alpha: float) -> list[str]:
    """Every exploratory family, each with its size and its own Holm control, then what was not run."""
    out: list[str] = []
    for family, title in EXPLORATORY:
        out += family_lines(readings, dataset, family, f"{title} (exploratory)", alpha)
        if family == "pretrained":
            out += [f"- {s}" for s in pretrained_gain(readings, dataset)] + [""]
    missing = [f"`{a}`/`{b}`" for a, b in OTHER_PAIRS if a not in methods or b not in methods]
    if missing:
        out += ["Not run, so not compared: " + ", ".join(missing) + ".", ""]
    return out


def pretrained_gain(readings: list[Reading], dataset: str) -> list[str]:
    """The best method's gain over the pretrained-only network, and whether `random` ends detectably above it."""
    rows = [r for r in readings if r.dataset == dataset and r.family == "pretrained" and r.interval.n]
    if not rows:
        return ["No pretrained-only metrics to pair with (results/<profile>/pretrained/<dataset>/[seed<s>/]metrics.json)."]
    best = max(rows, key=lambda r: r.means[0])
    out = [f"The best method by mean test R@1, `{best.a}`, gains {format_interval(best.interval, 100, 2, signed=True)} "
           f"points over the pretrained-only network: **{verdict_text(best)}**."]
    rnd = next((r for r in rows if r.a == "random"), None)
    if rnd is not None:
        above = "ends detectably above" if rnd.verdict == A_BETTER else "does not end detectably above"
        out.append(f"`random` {above} the pretrained-only network (**{verdict_text(rnd)}**).")
    return out


def adaptive_speed(comparison: dict[str, Any] | None, reading: Reading | None, metric: str,
                   fraction: float = 0.95) -> list[str]:
    """C4 and its kind: the speed reading, the paired ratios of epochs and seconds, and the paper's ~5x."""
    if comparison is None or reading is None:
        return ["No adaptive method beside its fixed-κ counterpart: the convergence claim is not tested here."]
    ep, sec = comparison["epochs"], comparison["seconds"]
    return [
        describe(reading),
        f"Ratio `{comparison['adaptive']}` / `{comparison['fixed']}` of the epochs to {100 * fraction:g}% of each seed's "
        f"gain in {metric_label(metric)}: {format_interval(ep.interval, 1, 2) or 'none'} (mean of the per-seed ratios, "
        f"95% t-interval, {ep.interval.n} seeds); of the seconds: {format_interval(sec.interval, 1, 2) or 'none'}.",
        paper_claim(ep, comparison["epochs_run"]),
    ]


def claim_of(readings: list[Reading], dataset: str, adaptive: str) -> Reading | None:
    """The speed reading of an adaptive method: C4's for the primary one, the convergence family's otherwise."""
    rid = f"{dataset}/primary/C4" if adaptive == claims_mod.PRIMARY_ADAPTIVE else f"{dataset}/convergence/{adaptive}"
    return next((r for r in readings if r.id == rid), None)


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
