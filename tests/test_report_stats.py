"""report/stats.py against hand computations and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from smartmining.report.stats import Interval, format_interval, mean_interval, paired, verdict

T_975_DF2 = 4.302652729911275  # the 97.5% quantile of Student's t with 2 degrees of freedom (tables)
T_975_DF3 = 3.182446305284263


def test_mean_interval_by_hand() -> None:
    iv = mean_interval([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt(((1.5 ** 2) * 2 + (0.5 ** 2) * 2) / 3)
    half = T_975_DF3 * std / 2
    assert (iv.mean, iv.std, iv.n) == (pytest.approx(2.5), pytest.approx(std), 4)
    assert (iv.lo, iv.hi) == (pytest.approx(2.5 - half), pytest.approx(2.5 + half))


def test_mean_interval_matches_scipy_on_random_samples() -> None:
    rng = np.random.default_rng(1)
    for n in (2, 3, 5, 10):
        x = rng.normal(size=n)
        lo, hi = sps.t.interval(0.95, n - 1, loc=x.mean(), scale=sps.sem(x))
        iv = mean_interval(x.tolist())
        assert (iv.lo, iv.hi) == (pytest.approx(lo), pytest.approx(hi))


def test_one_value_has_no_interval_and_nans_are_dropped() -> None:
    one = mean_interval([0.4])
    assert one.mean == 0.4 and one.n == 1 and math.isnan(one.std) and math.isnan(one.lo) and math.isnan(one.hi)
    assert mean_interval([]).n == 0 and math.isnan(mean_interval([]).mean)
    assert mean_interval([1.0, math.nan, 3.0]).n == 2


def test_paired_difference_uses_shared_seeds_only() -> None:
    a = {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.9}
    b = {0: 0.4, 1: 0.5, 2: 0.65, 5: 0.1}
    p = paired(a, b, ("smart", "random"))
    assert p.seeds == (0, 1, 2)
    diffs = [0.1, 0.1, 0.05]
    mean, std = sum(diffs) / 3, float(np.std(diffs, ddof=1))
    assert p.interval.mean == pytest.approx(mean)
    assert p.interval.lo == pytest.approx(mean - T_975_DF2 * std / math.sqrt(3))
    assert verdict(p) == "smart better than random"  # lo = 0.0833 - 0.0717 > 0


@pytest.mark.parametrize("diffs, expected", [
    ([0.05, 0.06, 0.04], "A better than B"),
    ([-0.05, -0.06, -0.04], "B better than A"),
    ([0.03, -0.02, 0.0], "no detectable difference"),
])
def test_verdict_words(diffs: list[float], expected: str) -> None:
    p = paired({s: d for s, d in enumerate(diffs)}, {s: 0.0 for s in range(3)})
    assert verdict(p) == expected


def test_verdict_of_a_ratio_and_of_lower_is_better() -> None:
    faster = paired({0: 1, 1: 1, 2: 2}, {0: 5, 1: 5, 2: 8}, ("adaptive", "fixed"), ratio=True)
    assert faster.kind == "ratio" and faster.interval.mean == pytest.approx((0.2 + 0.2 + 0.25) / 3)
    assert verdict(faster) == "fixed better than adaptive"  # ratio below 1: a is smaller
    assert verdict(faster, higher_is_better=False) == "adaptive better than fixed"
    same = paired({0: 4, 1: 6, 2: 5}, {0: 5, 1: 5, 2: 5}, ratio=True)
    assert verdict(same) == "no detectable difference"  # the interval contains 1
    assert verdict(paired({0: 0.5}, {0: 0.4})).startswith("no verdict (1 shared seed")


def test_format_interval() -> None:
    iv = Interval(0.623, 0.01, 3, 0.601, 0.645)
    assert format_interval(iv, 100) == "62.3 [60.1, 64.5]"
    assert format_interval(Interval(0.02, 0.01, 3, -0.01, 0.05), 100, 2, signed=True) == "+2.00 [-1.00, +5.00]"
    assert format_interval(mean_interval([0.5]), 100) == "50.0"
    assert format_interval(mean_interval([])) == ""
