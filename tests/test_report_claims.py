"""The tests behind the verdicts (report/inference.py, family.py, claims.py) against oracles: Holm against its
definition as a closed Bonferroni procedure, TOST against the two one-sided t-tests written out, and the verdict
rules on constructed paired data where each verdict must come out, and never the wrong way."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from smartmining.report import claims, inference
from smartmining.report.family import adjust, make_reading
from smartmining.settings import ReportSettings


def holm_closed_testing(p: list[float]) -> list[float]:
    """Holm = closed testing with Bonferroni: adjusted p_i = max over every subset S holding i of |S| * min_S p."""
    m, out = len(p), []
    for i in range(m):
        worst = 0.0
        for k in range(1, m + 1):
            for subset in itertools.combinations(range(m), k):
                if i in subset:
                    worst = max(worst, min(1.0, k * min(p[j] for j in subset)))
        out.append(worst)
    return out


def test_holm_matches_closed_testing_on_small_sets() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        m = int(rng.integers(1, 7))
        p = rng.choice([0.001, 0.01, 0.02, 0.04, 0.2, 0.5], size=m).tolist() if rng.random() < 0.3 else rng.random(m).tolist()
        assert inference.holm(p) == pytest.approx(holm_closed_testing(p))
    assert inference.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])  # by hand: 3x, 2x (then max), 1x
    adj = inference.holm([0.01, math.nan, 0.04])
    assert math.isnan(adj[1]) and adj[0] == pytest.approx(0.02) and adj[2] == pytest.approx(0.04)  # NaN: not in m


def test_t_test_matches_scipy_and_equal_differences_are_exact() -> None:
    rng = np.random.default_rng(1)
    for n in (2, 3, 5, 9):
        d = rng.normal(0.3, 1.0, size=n)
        assert inference.t_test(d.tolist()) == pytest.approx(sps.ttest_1samp(d, 0.0).pvalue)
    assert inference.t_test([-4.0, -4.0, -4.0]) == 0.0 and inference.t_test([0.0, 0.0]) == 1.0
    assert math.isnan(inference.t_test([0.5])) and math.isnan(inference.t_test([]))


def tost_by_hand(d: list[float], margin: float) -> float:
    n = len(d)
    mean = sum(d) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) / math.sqrt(n)
    p_low = 1 - sps.t.cdf((mean + margin) / se, n - 1)  # H0: mean <= -margin, rejected for a large t
    p_high = sps.t.cdf((mean - margin) / se, n - 1)  # H0: mean >= +margin, rejected for a small t
    return max(p_low, p_high)


def test_tost_is_the_larger_of_two_one_sided_t_tests() -> None:
    rng = np.random.default_rng(2)
    for _ in range(100):
        d = rng.normal(rng.uniform(-3, 3), rng.uniform(0.2, 2), size=int(rng.integers(2, 8))).tolist()
        margin = float(rng.uniform(0.5, 3))
        assert inference.tost(d, margin) == pytest.approx(tost_by_hand(d, margin), abs=1e-12)
        # the same by scipy's one-sided tests
        lo = sps.ttest_1samp(d, -margin, alternative="greater").pvalue
        hi = sps.ttest_1samp(d, margin, alternative="less").pvalue
        assert inference.tost(d, margin) == pytest.approx(max(lo, hi))
    assert inference.tost([0.5, 0.5], 1.0) == 0.0 and inference.tost([1.5, 1.5], 1.0) == 1.0


FINALS_COLUMNS = ["dataset", "run", "seed", "metric", "value", "source"]


def finals_for(diffs: list[float], base: float = 0.5) -> pd.DataFrame:
    """Test R@1 of smart+global and random+global per seed with smart+global - random+global = diffs."""
    rows = []
    for s, d in enumerate(diffs):
        rows += [("d", "random+global", s, "recall@1", base + 0.001 * s, "m"),
                 ("d", "smart+global", s, "recall@1", base + 0.001 * s + d, "m")]
    return pd.DataFrame(rows, columns=FINALS_COLUMNS)


def c1(diffs: list[float], st: ReportSettings = ReportSettings()) -> str:
    curves = pd.DataFrame(columns=["dataset", "run", "seed", "epoch", "val_recall@1"])
    found = adjust(claims.primary_readings(finals_for(diffs), curves, "d", "val_recall@1", st), st.alpha)
    r = next(r for r in found if r.id == "d/primary/C1")
    assert r.family_size == (2 if len(diffs) > 1 else 0)  # only C1 is tested here: a difference and an equivalence test
    return claims.claim_verdict(r)


@pytest.mark.parametrize("diffs, expected", [
    ([0.05, 0.06, 0.05, 0.055, 0.06], "supported"),  # +5.5 points, tight
    ([-0.05, -0.06, -0.05, -0.055, -0.06], "contradicted"),
    ([0.002, -0.003, 0.001, 0.0, -0.001, 0.002, 0.0, -0.002], "equivalent within the margin"),  # within ±0.3 of 0
    ([0.05, -0.06, 0.01, 0.03, -0.04], "inconclusive"),  # noisy around 0, wider than the margin
    ([0.05], "inconclusive"),  # one seed: no test
])
def test_each_claim_verdict_comes_out_on_constructed_data(diffs: list[float], expected: str) -> None:
    assert c1(diffs) == expected


def test_the_margin_is_the_parameter() -> None:
    diffs = [0.012, 0.010, 0.011, 0.013, 0.009, 0.011]  # +1.1 points, tight: better, and within ±2
    assert c1(diffs) == "supported"  # a surviving difference test wins over equivalence
    noisy = [0.005, -0.004, 0.006, -0.003, 0.001, 0.0]
    assert c1(noisy) == "equivalent within the margin"
    assert c1(noisy, ReportSettings(margin_points=0.2)) == "inconclusive"  # a tighter margin: not shown


def test_verdicts_never_come_out_the_wrong_way() -> None:
    rng = np.random.default_rng(4)
    margin, seen = 0.02, set()
    for _ in range(300):
        n = int(rng.integers(2, 9))
        d = rng.normal(rng.uniform(-0.05, 0.05), rng.uniform(0.0005, 0.04), size=n)
        va, vb = {s: 0.5 + x for s, x in enumerate(d)}, {s: 0.5 for s in range(n)}
        others = [make_reading(f"o{k}", "d", "f", "m", "a", "b", {0: 0.1, 1: 0.2}, {0: 0.0, 1: 0.0}, margin) for k in range(2)]
        r = adjust([make_reading("x", "d", "f", "m", "a", "b", va, vb, margin), *others], 0.05)[0]
        seen.add(r.verdict)
        mean = float(d.mean())
        if r.verdict == inference.A_BETTER:
            assert mean > 0 and r.p_holm <= 0.05
        elif r.verdict == inference.B_BETTER:
            assert mean < 0 and r.p_holm <= 0.05
        elif r.verdict == inference.EQUIVALENT:
            assert abs(mean) < margin and r.tost_holm <= 0.05 and r.p_holm > 0.05
            # equivalence at this level means the (1 - 2 * adjusted alpha) interval lies within the margin
            half = sps.t.ppf(1 - r.tost_holm, n - 1) * d.std(ddof=1) / math.sqrt(n)
            assert -margin - 1e-9 <= mean - half and mean + half <= margin + 1e-9
        else:
            assert r.p_holm > 0.05 and r.tost_holm > 0.05
        assert r.p_holm >= r.p - 1e-12 and r.family_size == 6  # Holm never lowers a p-value
    assert seen == {inference.A_BETTER, inference.B_BETTER, inference.EQUIVALENT, inference.INCONCLUSIVE}


def test_speed_is_fewer_epochs_and_uses_the_epoch_margin() -> None:
    rows = []
    for run, reach in (("smart+global+adaptive", [2, 2, 3]), ("smart+global", [6, 5, 6])):
        for seed, e_reach in enumerate(reach):
            for e in range(0, 8):
                v = 0.5 if e == 0 else (0.9 if e >= e_reach else 0.6)
                rows.append({"dataset": "d", "run": run, "seed": seed, "epoch": e, "val_recall@1": v, "t_epoch": 1.0})
    curves = pd.DataFrame(rows)
    st = ReportSettings()
    r = adjust([claims.explore.speed_reading(curves, "d", "smart+global+adaptive", "val_recall@1", st, "f", "x")], 0.05)[0]
    assert r.diffs == {0: -4.0, 1: -3.0, 2: -3.0} and r.margin == 1.0 and r.unit == "epochs"
    assert r.p == pytest.approx(sps.ttest_1samp([-4, -3, -3], 0).pvalue)
    assert r.verdict == (inference.A_BETTER if r.p_holm <= 0.05 else inference.INCONCLUSIVE)
    assert claims.claim_verdict(r) in ("supported", "inconclusive")


def test_the_paper_law_is_judged_in_the_exploratory_convergence_family() -> None:
    from smartmining.report import explore

    rows, finals = [], []
    for run, reach, r1 in (("smart+global+adaptive", 2, 0.60), ("smart+global+adaptive-paper", 3, 0.61),
                           ("smart+global", 6, 0.59), ("semihard", 4, 0.58)):
        for seed in range(3):
            finals.append(("d", run, seed, "recall@1", r1 + 0.01 * seed * (run == "semihard"), "m"))
            for e in range(0, 8):
                rows.append({"dataset": "d", "run": run, "seed": seed, "epoch": e, "t_epoch": 1.0,
                             "val_recall@1": 0.5 if e == 0 else (0.9 if e >= reach + (seed == 2) else 0.6)})
    ctx = {"finals": pd.DataFrame(finals, columns=FINALS_COLUMNS), "curves": pd.DataFrame(rows),
           "val_metric": "val_recall@1", "baselines": pd.DataFrame(columns=FINALS_COLUMNS)}
    methods = ["semihard", "smart+global", "smart+global+adaptive", "smart+global+adaptive-paper"]
    found = explore.exploratory_readings(ctx, "d", methods, ReportSettings())
    ids = {r.id for r in found}
    assert "d/convergence/smart+global+adaptive-paper" in ids  # its speed against smart+global
    assert "d/convergence/recall@1/smart+global+adaptive-paper-vs-smart+global" in ids
    assert "d/pairs/recall@1/smart+global+adaptive-paper-vs-semihard" in ids
    assert not any(i.startswith("d/convergence/smart+global+adaptive") and i.endswith("adaptive") for i in ids)  # primary: C4
    speed = next(r for r in found if r.id == "d/convergence/smart+global+adaptive-paper")
    assert speed.diffs == {0: -3.0, 1: -3.0, 2: -3.0} and speed.family == "convergence"
