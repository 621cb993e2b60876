"""Tests behind every verdict (PAPER.md section 10): the paired t-test, the equivalence test (TOST) at a margin
fixed in advance, and Holm's step-down adjustment over a family. Pure functions on plain numbers.

A reading decides only through these: "better" when its difference test survives Holm, "equivalent" when its
TOST survives Holm, otherwise "inconclusive". With fewer than two values there is no test (p is NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

A_BETTER, B_BETTER, EQUIVALENT, INCONCLUSIVE = "a_better", "b_better", "equivalent", "inconclusive"
DECIDED = (A_BETTER, B_BETTER, EQUIVALENT)


def _clean(values: Sequence[float]) -> np.ndarray:
    return np.asarray([x for x in values if not math.isnan(float(x))], dtype=float)


def t_test(diffs: Sequence[float]) -> float:
    """Two-sided p of the one-sample t-test of mean(diffs) = 0. Equal differences (std 0) are exact: p 0 when
    they are not 0, 1 when they are. NaN with fewer than two values."""
    d = _clean(diffs)
    if d.size < 2:
        return math.nan
    mean, std = float(d.mean()), float(d.std(ddof=1))
    if std == 0.0:
        return 0.0 if mean != 0.0 else 1.0
    t = mean / (std / math.sqrt(d.size))
    return float(min(1.0, 2.0 * sps.t.sf(abs(t), d.size - 1)))


def tost(diffs: Sequence[float], margin: float) -> float:
    """p of the two one-sided t-tests of equivalence: H0 mean <= -margin or mean >= +margin. The larger of the
    two one-sided p-values; a small p says the mean lies within (-margin, +margin). Equal differences are exact."""
    d = _clean(diffs)
    if d.size < 2:
        return math.nan
    mean, std = float(d.mean()), float(d.std(ddof=1))
    if std == 0.0:
        return 0.0 if abs(mean) < margin else 1.0
    se, df = std / math.sqrt(d.size), d.size - 1
    p_lower = float(sps.t.sf((mean + margin) / se, df))  # H0: mean <= -margin
    p_upper = float(sps.t.cdf((mean - margin) / se, df))  # H0: mean >= +margin
    return max(p_lower, p_upper)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: sorted ascending, the j-th smallest (from 1) is
    multiplied by m - j + 1, capped at 1 and made monotone. NaN entries (no test) stay NaN and do not count in m.
    Rejecting where the adjusted p <= alpha controls the family-wise error at alpha."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(float(p))]
    out = [math.nan] * len(pvalues)
    m, running = len(idx), 0.0
    for rank, i in enumerate(sorted(idx, key=lambda k: float(pvalues[k]))):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        out[i] = running
    return out


def decide(mean: float, p_holm: float, tost_holm: float, alpha: float, lower_is_better: bool = False) -> str:
    """The verdict of one paired comparison a - b from its Holm-adjusted p-values: a_better / b_better when the
    difference test survives (direction from the sign of the mean; with ``lower_is_better`` a negative mean
    favours a), equivalent when only the TOST survives, inconclusive otherwise (also without a test)."""
    if not math.isnan(p_holm) and p_holm <= alpha and mean != 0.0:
        return A_BETTER if (mean > 0) != lower_is_better else B_BETTER
    if not math.isnan(tost_holm) and tost_holm <= alpha:
        return EQUIVALENT
    return INCONCLUSIVE


def opposite(v: str, w: str) -> bool:
    """Two decided verdicts that cannot both hold: one side better against the other, or a claim supported
    against contradicted."""
    return {v, w} in ({A_BETTER, B_BETTER}, {"supported", "contradicted"})
