"""The exploratory readings: every paired comparison the report makes beyond the claims, in families that are
each Holm-controlled on their own (family.FAMILIES): other pairs (test R@1), NMI, equal compute, each method
against the pretrained-only network, and adaptive methods other than the primary one against their fixed kappa.
A comparison enters only where both sides ran.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from smartmining.report import compute, convergence
from smartmining.report.curves import at_budget, metric_label
from smartmining.report.family import Reading, make_reading
from smartmining.report.runs import PRETRAINED
from smartmining.settings import ReportSettings

PRIMARY_PAIRS = (("smart+global", "random+global"), ("smart+global+adaptive", "semihard"), ("smart+global", "smart"),
                 ("smart+global+adaptive", "smart+global"))
OTHER_PAIRS = (("smart", "random"), ("smart", "semihard"), ("random+global", "random"), ("smart+adaptive", "smart"))
PER_COMPUTE = (("smart", "semihard"), ("smart+global+adaptive", "semihard"), ("smart", "random"))
PRIMARY_ADAPTIVE = "smart+global+adaptive"


def seed_values(frame: pd.DataFrame, dataset: str, run: str, metric: str = "recall@1") -> dict[int, float]:
    sel = frame[(frame["dataset"] == dataset) & (frame["run"] == run) & (frame["metric"] == metric)]
    return {int(s): float(v) for s, v in zip(sel["seed"], sel["value"])}


def baseline_values(baselines: pd.DataFrame, dataset: str, seeds: list[int], name: str = PRETRAINED,
                    metric: str = "recall@1") -> dict[int, float]:
    """Per seed the baseline's value. A baseline of the seedless layout (one network for all seeds) stands for
    every seed; one of the per-seed layout pairs with its own seed only."""
    sel = baselines[(baselines["dataset"] == dataset) & (baselines["run"] == name) & (baselines["metric"] == metric)]
    if sel.empty:
        return {}
    if not sel["source"].str.contains("/seed").any():
        return {s: float(sel["value"].iloc[0]) for s in seeds}
    return {int(s): float(v) for s, v in zip(sel["seed"], sel["value"])}


def other_pairs(methods: list[str]) -> list[tuple[str, str]]:
    """OTHER_PAIRS that ran, and each further adaptive method (e.g. the paper's law) against semi-hard."""
    extra = [(m, "semihard") for m in methods if "adaptive" in m and m not in (PRIMARY_ADAPTIVE, "smart+adaptive")]
    return [(a, b) for a, b in (*OTHER_PAIRS, *extra) if a in methods and b in methods]


def exploratory_readings(ctx: dict[str, Any], dataset: str, methods: list[str], st: ReportSettings) -> list[Reading]:
    finals, curves, val = ctx["finals"], ctx["curves"], ctx["val_metric"]
    margin = st.margin_points / 100
    out = []

    def pair(family: str, a: str, b: str, metric: str, label: str, va: dict | None = None, vb: dict | None = None,
             tag: str = "") -> None:
        va = seed_values(finals, dataset, a, metric) if va is None else va
        vb = seed_values(finals, dataset, b, metric) if vb is None else vb
        if va and vb:
            out.append(make_reading(f"{dataset}/{family}/{metric}{tag}/{a}-vs-{b}", dataset, family, label, a, b,
                                    va, vb, margin))

    for a, b in other_pairs(methods):
        pair("pairs", a, b, "recall@1", "test R@1")
    for a, b in [p for p in PRIMARY_PAIRS if p[0] in methods and p[1] in methods] + other_pairs(methods):
        pair("nmi", a, b, "nmi", "test NMI")
    budgets = compute.equal_budgets(curves, dataset, methods)
    what = {"cum_passes": "compute passes", "cum_seconds": "training seconds"}
    for a, b in PER_COMPUTE:
        if a not in methods or b not in methods:
            continue
        for axis, budget in budgets.items():
            if math.isnan(budget):
                continue
            label = f"{metric_label(val)} at equal compute, anytime ({amount(budget)} {what[axis]})"
            pair("compute", a, b, val, label, at_budget(curves, dataset, a, val, axis, budget),
                 at_budget(curves, dataset, b, val, axis, budget), tag=f"@{axis}")
    for m in methods:
        va = seed_values(finals, dataset, m)
        pair("pretrained", m, "pretrained-only network", "recall@1", "test R@1", va,
             baseline_values(ctx["baselines"], dataset, sorted(va)))
    for m in methods:
        fixed = convergence.fixed_counterpart(m)
        if "adaptive" in m and m != PRIMARY_ADAPTIVE and fixed in methods:
            out.append(speed_reading(curves, dataset, m, val, st, "convergence", f"{dataset}/convergence/{m}"))
            pair("convergence", m, fixed, "recall@1", "test R@1 (final)")
    return out


def speed_reading(curves: pd.DataFrame, dataset: str, adaptive: str, metric: str, st: ReportSettings, family: str,
                  rid: str, claim: str = "") -> Reading:
    """Epochs to ``gain_fraction`` of the gain over epoch 0, adaptive - its fixed counterpart (fewer is better)."""
    fixed = convergence.fixed_counterpart(adaptive)
    va = convergence.per_seed(curves, dataset, adaptive, metric, "epoch", st.gain_fraction)
    vb = convergence.per_seed(curves, dataset, fixed, metric, "epoch", st.gain_fraction)
    what = f"epochs to {100 * st.gain_fraction:g}% of the gain over the pretrained network"
    return make_reading(rid, dataset, family, what, adaptive, fixed, va, vb, st.margin_epochs, scale=1.0,
                        unit="epochs", lower_is_better=True, claim=claim)


def amount(x: float) -> str:
    """5,400 / 7.83: thousands separated, small numbers to 3 significant digits."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
