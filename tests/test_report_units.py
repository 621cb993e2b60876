"""The report's pure pieces: convergence, published numbers, tables, readings, run discovery."""

from __future__ import annotations

import json

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smartmining.config import load_params
from smartmining.errors import SmartMiningError
from smartmining.runs import SweepPoint, sweep_point
from smartmining.runs import profile_runs as pipeline_runs
from smartmining.methods import PAPER_ROWS
from smartmining.report import compute, convergence, curves, inputs, readings, runs, setup, tables
from smartmining.report.galleries import montage, pick_epochs

REPO = Path(__file__).resolve().parents[1]
PAPER = Path(__file__).resolve().parents[2] / "shared" / "PAPER.md"


def first_reaching_oracle(values: list[float], fraction: float) -> int | None:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return None
    best = max(finite)
    for i, v in enumerate(values):
        if not math.isnan(v) and v >= fraction * best:
            return i
    return None


@pytest.mark.parametrize("values, expected", [
    ([0.1, 0.5, 0.9, 0.96, 1.0, 0.98], 3),  # 0.95 of 1.0: 0.9 is short, 0.96 reaches it
    ([math.nan, 0.2, 0.19, 0.1], 1),
    ([0.5], 0),
    ([math.nan, math.nan], None),
])
def test_first_reaching_on_hand_made_curves(values: list[float], expected: int | None) -> None:
    assert convergence.first_reaching(values) == expected
    assert first_reaching_oracle(values, 0.95) == expected


def test_first_reaching_matches_the_oracle_on_random_curves() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = rng.random(rng.integers(1, 12)).tolist()
        frac = float(rng.uniform(0.5, 1.0))
        assert convergence.first_reaching(v, frac) == first_reaching_oracle(v, frac)


def hand_made_curves(start: float | None = None) -> pd.DataFrame:
    """Two seeds; the adaptive run levels off at epoch 2, the fixed one climbs until epoch 5; with ``start`` an
    epoch-0 row (the pretrained network) at that value."""
    adaptive = [0.50, 0.78, 0.80, 0.80, 0.79]
    fixed = [0.30, 0.50, 0.62, 0.70, 0.80]
    rows = []
    for run, curve, t in (("smart+global+adaptive", adaptive, 3.0), ("smart+global", fixed, 2.0)):
        for seed, shift in ((0, -0.01), (1, 0.01)):
            if start is not None:
                rows.append({"dataset": "d", "run": run, "seed": seed, "epoch": 0, "recall@1": start + shift,
                             "t_epoch": 9.0})
            for e, r1 in enumerate(curve, start=1):
                rows.append({"dataset": "d", "run": run, "seed": seed, "epoch": e, "recall@1": r1 + shift,
                             "t_epoch": t + seed})
    return pd.DataFrame(rows)


def gain_oracle(start: float, values: list[float], fraction: float) -> int | None:
    """By the definition: the first trained epoch (from 1) at start + fraction * (best - start); None without gain."""
    best = max(v for v in values if not math.isnan(v))
    if best <= start:
        return None
    for e, v in enumerate(values, start=1):
        if not math.isnan(v) and v - start >= fraction * (best - start) - 1e-12:
            return e
    return None


def test_first_reaching_gain_matches_the_definition() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        values = rng.random(rng.integers(1, 10)).tolist()
        start, frac = float(rng.uniform(0, 1)), float(rng.uniform(0.5, 1.0))
        pos = convergence.first_reaching_gain(start, values, frac)
        assert (None if pos is None else pos + 1) == gain_oracle(start, values, frac)
    assert convergence.first_reaching_gain(0.9, [0.5, 0.8]) is None  # below the pretrained network: no gain
    assert convergence.first_reaching_gain(math.nan, [0.5, 0.8]) is None


def test_convergence_on_the_gain_per_seed_and_paired_ratio() -> None:
    data = hand_made_curves(start=0.40)
    conv = convergence.convergence_table(data, "d", ["smart+global", "smart+global+adaptive"], "recall@1").set_index("method")
    # gain 0.80 - 0.40 per seed; 95% of it is 0.78: the adaptive run reaches it at epoch 2, the fixed one at 5
    assert conv.loc["smart+global+adaptive", "epoch_mean"] == 2 and conv.loc["smart+global", "epoch_mean"] == 5
    assert conv.loc["smart+global", "gain_mean"] == pytest.approx(0.40) and conv.loc["smart+global", "at0_mean"] == pytest.approx(0.40)
    assert conv.loc["smart+global", "at2_mean"] == pytest.approx(0.50)
    # seconds: cumulative t_epoch of the trained epochs of each seed (3 s and 4 s), mean over seeds
    assert conv.loc["smart+global+adaptive", "seconds_mean"] == pytest.approx((2 * 3.0 + 2 * 4.0) / 2)
    # area / epoch of seed 0 of the fixed run, by the trapezoid rule over epochs 0..5
    v = [0.39, 0.29, 0.49, 0.61, 0.69, 0.79]
    area0 = sum((v[i] + v[i + 1]) / 2 for i in range(5)) / 5
    assert convergence.seed_measures(data, "d", "smart+global", "recall@1").set_index("seed").loc[0, "auc"] == pytest.approx(area0)
    cmp = convergence.adaptive_comparison(data, "d", "smart+global+adaptive", "recall@1")
    assert cmp["fixed"] == "smart+global" and cmp["epochs"].kind == "ratio"
    assert cmp["epochs"].interval.mean == pytest.approx(2 / 5)
    assert cmp["seconds"].interval.mean == pytest.approx((6 / 10 + 8 / 15) / 2)
    no_start = convergence.convergence_table(hand_made_curves(), "d", ["smart+global"], "recall@1")
    assert no_start["no_gain"].iloc[0] == 2 and math.isnan(no_start["epoch_mean"].iloc[0])  # no epoch 0: no gain
    assert convergence.fixed_counterpart("smart+global+adaptive-paper") == "smart+global"
    assert convergence.fixed_counterpart("smart+adaptive") == "smart"


@pytest.mark.parametrize("ratios, words", [
    ([0.2, 0.25, 0.2], "is within reach"),
    ([0.5, 0.6, 0.55], "is met only in part"),
    ([0.8, 1.2, 1.0], "the interval of the ratio contains 1"),
    ([1.5, 1.6, 1.7], "lies above 1"),
    ([0.2], "cannot be placed"),
])
def test_paper_claim_sentence(ratios: list[float], words: str) -> None:
    from smartmining.report.stats import paired

    p = paired(dict(enumerate(ratios)), {i: 1.0 for i in range(len(ratios))}, ratio=True)
    sentence = convergence.paper_claim(p, 20)
    assert words in sentence and "cannot take the paper's 20" not in sentence
    assert "cannot take the paper's 20" in convergence.paper_claim(p, 8)


def test_plateau_check_flags_a_moving_curve() -> None:
    check = convergence.plateau_check(hand_made_curves(), "d", ["smart+global", "smart+global+adaptive"], "recall@1")
    by = check.set_index("run")
    assert by.loc["smart+global", "change"] == pytest.approx(10.0) and not by.loc["smart+global", "converged"]
    # 0.80 -> 0.79: one point, "1 point or more" counts as not converged
    assert by.loc["smart+global+adaptive", "change"] == pytest.approx(-1.0) and not by.loc["smart+global+adaptive", "converged"]
    flagged = readings.plateau(check, "val_recall@1")[0]
    assert "**Not converged**" in flagged and "`smart+global` (+10.00 points to epoch 5)" in flagged
    still = convergence.plateau_check(hand_made_curves().query("epoch < 5"), "d", ["smart+global+adaptive"], "recall@1")
    assert bool(still["converged"].iloc[0]) and readings.plateau(still, "val_recall@1")[0].startswith("All 1 runs plateaued")


def test_mean_curve_band_is_min_max_over_seeds() -> None:
    mc = curves.mean_curve(hand_made_curves(), "d", "smart+global")
    assert mc["min"].tolist() == pytest.approx([0.29, 0.49, 0.61, 0.69, 0.79])
    assert mc["max"].tolist() == pytest.approx([0.31, 0.51, 0.63, 0.71, 0.81])
    assert mc["seconds"].tolist() == pytest.approx([2.5, 5.0, 7.5, 10.0, 12.5])


def test_cumulative_compute_excludes_evaluation_and_epoch_zero() -> None:
    df = pd.DataFrame({"dataset": "d", "run": "r", "seed": 0, "epoch": [0, 1, 2], "image_passes": [500, 100, 150],
                       "t_epoch": [9.0, 2.0, 3.0], "t_eval": [9.0, 0.5, 0.5], "val_recall@1": [0.1, 0.3, 0.5]})
    cum = curves.add_cumulative(df)
    assert cum["cum_passes"].tolist() == [0, 100, 250] and cum["cum_seconds"].tolist() == pytest.approx([0, 1.5, 4.0])
    assert curves.at_budget(df, "d", "r", "val_recall@1", "cum_passes", 175) == {0: pytest.approx(0.4)}
    assert math.isnan(curves.at_budget(df, "d", "r", "val_recall@1", "cum_passes", 300)[0])
    assert curves.validation_metric(df) == "val_recall@1" and curves.metric_label("val_recall@1") == "validation R@1"
    assert compute.equal_budgets(df, "d", ["r"]) == {"cum_passes": 250.0, "cum_seconds": pytest.approx(4.0)}
    # compute_passes (a re-embedded image at its cost) where logged; image_passes where a log predates it
    mixed = pd.concat([df.assign(compute_passes=[0.0, 60.0, 90.0]), df.assign(run="old")])
    cum = curves.add_cumulative(mixed).set_index(["run", "epoch"])["cum_passes"]
    assert cum.loc["r"].tolist() == [0, 60, 150] and cum.loc["old"].tolist() == [0, 100, 250]


def test_triplet_budget_check_names_unequal_methods() -> None:
    df = pd.DataFrame({"dataset": "d", "run": ["a", "a", "b", "b"], "seed": 0, "epoch": [1, 2, 1, 2],
                       "n_triplets": [100, 100, 100, 80], "n_steps": [5, 5, 5, 4]})
    line = setup.triplet_budget(df, "d", ["a", "b"])[0]
    assert line.startswith("**Unequal budgets**") and "`b` triplets 80/100, optimizer steps 4/5" in line
    assert setup.triplet_budget(df[df["run"] == "a"], "d", ["a"]) == [
        "Equal triplet budget: every method trained on 100 triplets and 5 optimizer steps per epoch."]


def paper_tables(text: str) -> dict[tuple[str, str], list[float]]:
    """Section 8 of PAPER.md: {(dataset, method): [nmi, r1, r2, r4, r8]}."""
    section = text.split("## 8.")[1].split("## 9.")[0]
    out, dataset = {}, None
    for line in section.splitlines():
        if line.startswith("CUB"):
            dataset = "cub200"
        elif line.startswith("Cars"):
            dataset = "cars196"
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"[\d.]+", cells[1]):
            out[(dataset, cells[0])] = [float(c) for c in cells[1:]]
    return out


def test_published_csv_matches_the_paper() -> None:
    pub = tables.load_published().set_index(["dataset", "method"])
    # typed from PAPER.md section 8, checked whether or not shared/ sits beside the clone
    assert pub.loc[("cub200", "Triplet + FANNG + Global + Adaptive"), "r1"] == pytest.approx(49.78)
    assert pub.loc[("cars196", "Semi-hard (FaceNet)"), "nmi"] == pytest.approx(53.35)
    assert pub.loc[("cars196", "Triplet + FANNG + Global + Adaptive"), "r8"] == pytest.approx(90.19)
    assert pub.loc[("cub200", "Clustering"), "r2"] == pytest.approx(61.44)
    assert len(pub) == 16
    assert set(pub.index.get_level_values("method")) >= set(PAPER_ROWS.values())
    if PAPER.is_file():  # the full check where the specification is at hand
        parsed = paper_tables(PAPER.read_text(encoding="utf-8"))
        assert len(parsed) == 16 and set(parsed) == set(pub.index)
        for key, values in parsed.items():
            assert pub.loc[key, ["nmi", "r1", "r2", "r4", "r8"]].tolist() == pytest.approx(values), key


def test_results_table_has_no_published_match_for_methods_the_paper_lacks() -> None:
    summary = pd.DataFrame([("cub200", "random", "recall@1", 0.3, 0.01, 2), ("cub200", "semihard", "recall@1", 0.5, 0.02, 2)],
                           columns=["dataset", "run", "metric", "mean", "std", "n_seeds"])
    t = tables.results_table(summary, tables.load_published(), "cub200", ["random", "semihard", "hard"]).set_index("paper_row")
    assert math.isnan(t.loc["", "diff_recall@1"]) and t.loc["", "method"] == "random"
    assert t.loc["Semi-hard (FaceNet)", "diff_recall@1"] == pytest.approx(50.0 - 42.59)
    assert t.loc["Semi-hard (FaceNet)", "recall@1_std"] == pytest.approx(2.0)
    assert "hard" not in set(t["method"])  # no logs, no row
    assert len(t) == 2 + 7  # our two methods, then the seven other published rows


def test_markdown_and_latex_escape() -> None:
    df = pd.DataFrame({"Method": ["a|b", "x_y"], "R@1": ["49.78 ± 1.00", "50%"]})
    md = tables.to_markdown(df)
    assert "a\\|b" in md and md.count("\n") == 4
    tex = tables.to_latex(df, "cap_1")
    assert r"x\_y" in tex and r"49.78 $\pm$ 1.00" in tex and r"50\%" in tex and r"\caption{cap\_1}" in tex


def test_summarise_uses_the_sample_std_and_a_t_interval() -> None:
    finals = pd.DataFrame([("d", "m", s, "nmi", v, "eval.json") for s, v in enumerate([0.2, 0.4, 0.9])],
                          columns=["dataset", "run", "seed", "metric", "value", "source"])
    row = tables.summarise(finals).iloc[0]
    std = math.sqrt(((0.3) ** 2 + 0.1 ** 2 + 0.4 ** 2) / 2)
    assert row["mean"] == pytest.approx(0.5) and row["n_seeds"] == 3 and row["std"] == pytest.approx(std)
    assert row["ci_hi"] == pytest.approx(0.5 + 4.302652729911275 * std / math.sqrt(3))
    assert tables.nested_metrics(tables.summarise(finals)) == {"d": {"m": {"nmi": 0.5}}}


def test_paired_reading_of_final_metrics() -> None:
    from smartmining.report.family import adjust, describe, make_reading

    va, vb = dict(enumerate([0.45, 0.48, 0.45])), dict(enumerate([0.40, 0.42, 0.41]))
    r = adjust([make_reading("d/x/r1", "d", "x", "test R@1", "smart", "random", va, vb, 0.02)], 0.05)[0]
    s = describe(r)
    # alone in its family: 2 hypotheses; raw p of [.05, .06, .04] is 0.013, so Holm gives 0.026: better
    assert "paired difference +5.00 [+2.52, +7.48] points (3 seeds)" in s and s.endswith("**smart better than random**.")
    assert r.family_size == 2 and r.p_holm == pytest.approx(2 * r.p)
    assert readings.trend(np.array([0.6, 0.1, 0.2]), np.array([3.0, 1.0, 2.0])) == "rises"
    assert readings.trend(np.array([1, 2, 3]), np.array([3.0, 1.0, 2.0])) == "has no monotone trend"


def test_selection_and_controller_files(tmp_path: Path) -> None:
    assert inputs.read_selection(tmp_path, ["cub200"]).empty
    (tmp_path / "selection").mkdir()  # the pipeline's file: one per dataset, as select() writes it
    (tmp_path / "selection" / "cars196.json").write_text(json.dumps({
        "metric": "val_recall@1", "seeds": [100, 101], "methods": {"hard": {
            "chosen": {"train.lr": 0.01, "train.mined_fraction": 0.4}, "chosen_run": "tune1-hard", "n_runs": 4,
            "tried": [{"run": "tune0-hard", "values": {"train.lr": 0.003, "train.mined_fraction": 0.2}, "score": 0.5},
                      {"run": "tune1-hard", "values": {"train.lr": 0.01, "train.mined_fraction": 0.4}, "score": 0.55}]}}}))
    row = inputs.read_selection(tmp_path, ["cub200", "cars196"]).iloc[0]
    assert (row["dataset"], row["method"], row["chosen"], row["seeds"], row["n_runs"]) == (
        "cars196", "hard", {"train.lr": 0.01, "train.mined_fraction": 0.4}, "100, 101", 4)
    (tmp_path / "selection" / "cars196.json").write_text('{"kappa": {"chosen": 2, "metric": "val_recall@1"}}')
    with pytest.raises(SmartMiningError, match=r"cars196\.json: expected the select stage's object"):
        inputs.read_selection(tmp_path, ["cars196"])
    state = {"kappa": 3.0, "target_error": 0.6, "history": [
        {"epoch": 3, "rule": "hold", "unreachable": False, "reason": None, "clamp": None},
        {"epoch": 4, "rule": "unreachable", "unreachable": True, "reason": "e 0.9 above target at kappa_hi", "clamp": None},
        {"epoch": 5, "rule": "fit", "unreachable": False, "reason": None, "clamp": "hi"}]}
    summary = inputs.controller_summary(state, tmp_path / "controller.json")
    assert summary["rules"] == "hold 1, unreachable 1, fit 1" and summary["flagged_epochs"] == [4, 5]
    assert summary["flags"] == "unreachable (1), clamp=hi (1)" and summary["reason"] == "e 0.9 above target at kappa_hi"
    with pytest.raises(SmartMiningError, match="history"):
        inputs.controller_summary({"kappa": 1.0}, tmp_path / "controller.json")


def test_expected_runs_match_the_pipeline_and_tolerate_missing_sweeps() -> None:
    cfg = load_params(REPO / "params.yaml", "smoke")
    assert runs.expected_runs(cfg) == pipeline_runs(cfg)
    cfg = {**cfg, "sweeps": {}}
    assert all(not r.name.startswith("sweep-") for r in runs.expected_runs(cfg))
    assert sweep_point("sweep-fraction-0.2") == SweepPoint("fraction", 0.2)
    assert sweep_point("sweep-kappa0-16") == SweepPoint("kappa0", 16.0)
    cfg = {**cfg, "sweeps": {"kappa0": {"method": "smart+global+adaptive", "values": [1, 16], "seeds": [0, 1]}}}
    names = {(r.name, r.seed) for r in runs.expected_runs(cfg) if r.name.startswith("sweep-")}
    assert names == {("sweep-kappa0-1", 0), ("sweep-kappa0-1", 1), ("sweep-kappa0-16", 0), ("sweep-kappa0-16", 1)}
    assert sweep_point("smart+global") is None


def test_bad_epochs_csv_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "epochs.csv"
    path.write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(SmartMiningError, match=r"epochs\.csv: missing column\(s\) \['recall@1 or val_recall@1'\]"):
        runs.read_epochs_csv(path)
    bad = tmp_path / "eval.json"
    bad.write_text("{not json")
    with pytest.raises(SmartMiningError, match="eval.json: not valid JSON"):
        runs.final_metrics(tmp_path, None)


def test_gallery_helpers() -> None:
    assert pick_epochs([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]) == [3, 7, 12, 16]
    assert pick_epochs([5, 2]) == [2, 5]
    tile = np.zeros((4, 4, 3), dtype=np.uint8)
    m = montage([[tile] * 6, [tile] * 6], size=4, gap=2)
    assert m.shape == (2 * 4 + 2, 6 * 4 + 8 * 2, 3)
    assert (m == 0).sum() == 12 * 16 * 3  # every tile drawn, none overlapping
