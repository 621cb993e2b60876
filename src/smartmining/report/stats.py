"""Statistics over seeds (PAPER.md section 10): means with 95% t-intervals, paired differences, verdicts.

Pure functions on plain numbers. An interval needs at least two values; with one it is NaN (unknown),
never zero. A paired difference uses only the seeds both methods ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
NO_DIFFERENCE = "no detectable difference"


@dataclass(frozen=True)
class Interval:
    """Mean of n values, their sample std (ddof 1) and the 95% t-interval of the mean."""

    mean: float
    std: float
    n: int
    lo: float
    hi: float

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi


@dataclass(frozen=True)
class Paired:
    """Mean over shared seeds of a - b (or a / b), its 95% t-interval and the seeds used."""

    a: str
    b: str
    interval: Interval
    seeds: tuple[int, ...]
    kind: str = "difference"  # or "ratio"


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean, std and the t-interval ``mean ± t_{n-1} * std / sqrt(n)``; NaNs are dropped first."""
    v = np.asarray([x for x in values if not math.isnan(float(x))], dtype=float)
    n = int(v.size)
    if n == 0:
        return Interval(math.nan, math.nan, 0, math.nan, math.nan)
    mean = float(v.mean())
    if n == 1:
        return Interval(mean, math.nan, 1, math.nan, math.nan)
    std = float(v.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Interval(mean, std, n, mean - half, mean + half)


def paired(a: Mapping[int, float], b: Mapping[int, float], names: tuple[str, str] = ("A", "B"), *,
           ratio: bool = False, confidence: float = CONFIDENCE) -> Paired:
    """Per shared seed s: a[s] - b[s] (or a[s] / b[s] with ``ratio``); their mean and t-interval.

    Seeds where either value is NaN (or, for a ratio, b is 0) are left out.
    """
    seeds = []
    for s in sorted(set(a) & set(b)):
        x, y = float(a[s]), float(b[s])
        if math.isnan(x) or math.isnan(y) or (ratio and y == 0):
            continue
        seeds.append(s)
    diffs = [float(a[s]) / float(b[s]) if ratio else float(a[s]) - float(b[s]) for s in seeds]
    return Paired(names[0], names[1], mean_interval(diffs, confidence), tuple(seeds), "ratio" if ratio else "difference")


def verdict(p: Paired, higher_is_better: bool = True) -> str:
    """'A better than B', 'B better than A', or 'no detectable difference' (the interval contains the null:
    0 for a difference, 1 for a ratio); with fewer than two shared seeds there is no interval to judge by."""
    iv = p.interval
    if iv.n < 2 or math.isnan(iv.lo):
        return f"no verdict ({iv.n} shared seed{'s' if iv.n != 1 else ''}: no interval)"
    null = 1.0 if p.kind == "ratio" else 0.0
    if iv.contains(null):
        return NO_DIFFERENCE
    a_larger = iv.lo > null
    return f"{p.a} better than {p.b}" if a_larger == higher_is_better else f"{p.b} better than {p.a}"


def format_interval(iv: Interval, scale: float = 1.0, digits: int = 1, signed: bool = False) -> str:
    """'62.3 [60.1, 64.5]' (mean [lo, hi]); the mean alone where there is no interval; '' for no value."""
    if math.isnan(iv.mean):
        return ""
    fmt = f"{{:{'+' if signed else ''}.{digits}f}}"
    mean = fmt.format(scale * iv.mean)
    if math.isnan(iv.lo):
        return mean
    return f"{mean} [{fmt.format(scale * iv.lo)}, {fmt.format(scale * iv.hi)}]"
