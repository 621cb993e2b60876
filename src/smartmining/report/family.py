"""Readings as data: one paired comparison a - b over seeds, its tests, and Holm over the family it belongs to.

Each reading of a family is tested twice: for a difference (two-sided paired t-test) and for equivalence
(TOST at the family's margin). Holm runs over all 2k p-values of the family's k tested comparisons, so the
family-wise error over every decision of the family (better or equivalent) is at most alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from smartmining.report.inference import A_BETTER, B_BETTER, EQUIVALENT, decide, holm, t_test, tost
from smartmining.report.stats import Interval, format_interval, mean_interval

# family key -> what it holds (said in REPORT.md beside its readings)
FAMILIES = {
    "primary": "the claims C1-C4 of PAPER.md section 10",
    "pairs": "exploratory: the other pairs of methods, test R@1",
    "nmi": "exploratory: pairs of methods, test NMI",
    "compute": "exploratory: validation R@1 at equal compute (anytime)",
    "pretrained": "exploratory: each method against the pretrained-only network, test R@1",
    "convergence": "exploratory: other adaptive methods against their fixed κ",
}


@dataclass(frozen=True)
class Reading:
    """One paired comparison a - b of ``measure`` over the seeds both have (``diffs`` per seed, in the measure's
    units; ``scale`` turns them into ``unit``). Tests and verdict are filled by ``adjust``."""

    id: str
    dataset: str
    family: str
    measure: str
    a: str
    b: str
    diffs: dict[int, float]
    margin: float
    scale: float = 100.0
    unit: str = "points"
    lower_is_better: bool = False
    claim: str = ""
    means: tuple[float, float] = (math.nan, math.nan)
    p: float = math.nan
    p_tost: float = math.nan
    p_holm: float = math.nan
    tost_holm: float = math.nan
    verdict: str = "inconclusive"
    family_size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def interval(self) -> Interval:
        return mean_interval(list(self.diffs.values()))

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(sorted(self.diffs))


def make_reading(id: str, dataset: str, family: str, measure: str, a: str, b: str, va: dict[int, float],
                 vb: dict[int, float], margin: float, **kw: Any) -> Reading:
    """The reading of a - b over the seeds where both values exist (NaN left out), with its raw p-values."""
    seeds = [s for s in sorted(set(va) & set(vb)) if not (math.isnan(float(va[s])) or math.isnan(float(vb[s])))]
    diffs = {s: float(va[s]) - float(vb[s]) for s in seeds}
    means = (float(np.mean([va[s] for s in seeds])), float(np.mean([vb[s] for s in seeds]))) if seeds else (math.nan, math.nan)
    d = list(diffs.values())
    return Reading(id, dataset, family, measure, a, b, diffs, margin, means=means, p=t_test(d), p_tost=tost(d, margin), **kw)


def adjust(readings: list[Reading], alpha: float) -> list[Reading]:
    """Holm per (dataset, family) over the difference and the equivalence p-values together; the verdicts."""
    out: dict[int, Reading] = {}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(readings):
        groups.setdefault((r.dataset, r.family), []).append(i)
    for idx in groups.values():
        ps = [readings[i].p for i in idx] + [readings[i].p_tost for i in idx]
        adj = holm(ps)
        size = sum(1 for p in ps if not math.isnan(p))
        for k, i in enumerate(idx):
            r = readings[i]
            ph, th = adj[k], adj[k + len(idx)]
            out[i] = replace(r, p_holm=ph, tost_holm=th, family_size=size,
                             verdict=decide(r.interval.mean, ph, th, alpha, r.lower_is_better))
    return [out[i] for i in range(len(readings))]


def verdict_text(r: Reading) -> str:
    word = "faster than" if r.unit == "epochs" else "better than"  # fewer epochs to converge
    if r.verdict == A_BETTER:
        return f"{r.a} {word} {r.b}"
    if r.verdict == B_BETTER:
        return f"{r.b} {word} {r.a}"
    if r.verdict == EQUIVALENT:
        return f"equivalent within ±{r.margin * r.scale:g} {r.unit}"
    n = len(r.diffs)
    return "inconclusive" + (f" ({n} shared seed{'s' if n != 1 else ''}: no test)" if n < 2 else "")


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def estimate_text(r: Reading) -> str:
    """'+4.59 [+2.61, +6.57] points (5 seeds)'."""
    iv = r.interval
    if iv.n == 0:
        return "no shared seeds"
    return f"{format_interval(iv, r.scale, 2, signed=True)} {r.unit} ({iv.n} seed{'s' if iv.n != 1 else ''})"


def describe(r: Reading) -> str:
    """One Markdown sentence: what is compared, the paired difference with its 95% interval, the Holm-adjusted
    p-values of the difference and equivalence tests, and the verdict."""
    means = ""
    if not math.isnan(r.means[0]):
        means = f" (means {r.scale * r.means[0]:.2f} vs {r.scale * r.means[1]:.2f})"
    seeds = ", ".join(str(s) for s in r.seeds) or "none"
    return (f"`{r.a}` vs `{r.b}`, {r.measure}{means}: paired difference {estimate_text(r)}, 95% t-interval over "
            f"seeds {seeds}; p {fmt_p(r.p_holm)}, TOST ±{r.margin * r.scale:g} p {fmt_p(r.tost_holm)} (Holm): "
            f"**{verdict_text(r)}**.")


def family_note(readings: list[Reading], dataset: str, family: str, alpha: float) -> str:
    """'Family "nmi" (exploratory: ...): 6 comparisons, 12 hypotheses, Holm at alpha 0.05.'"""
    members = [r for r in readings if r.dataset == dataset and r.family == family]
    size = members[0].family_size if members else 0
    return (f"Family `{family}` ({FAMILIES.get(family, family)}): {len(members)} comparison"
            f"{'s' if len(members) != 1 else ''}, {size} hypotheses (a difference and an equivalence test each), "
            f"Holm at α = {alpha:g}.")


def to_json(r: Reading) -> dict[str, Any]:
    """The machine-readable reading (readings.json): estimate and interval in the reading's unit."""
    iv = r.interval

    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(float(x), 6)

    return {"id": r.id, "dataset": r.dataset, "family": r.family, "claim": r.claim or None, "measure": r.measure,
            "a": r.a, "b": r.b, "unit": r.unit, "estimate": num(r.scale * iv.mean), "lo": num(r.scale * iv.lo),
            "hi": num(r.scale * iv.hi), "n": iv.n, "seeds": list(r.seeds), "margin": num(r.scale * r.margin),
            "p": num(r.p), "p_holm": num(r.p_holm), "p_tost": num(r.p_tost), "p_tost_holm": num(r.tost_holm),
            "family_size": r.family_size, "verdict": r.verdict, "text": verdict_text(r)}
