"""The report stage end to end on synthetic run logs with known values (tests/report_logs.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats as sps
from report_logs import EPOCHS, FINAL_R1, METHODS, OLD_COLUMNS, SEEDS, TRIPLETS, make_cfg, write_logs

from smartmining.errors import SmartMiningError
from smartmining.report import build_report
from smartmining.report.readme import END, START, markers, update_readme

T_975_DF2 = 4.302652729911275  # Student's t, 97.5% quantile, 2 degrees of freedom


def ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval of three values, by hand."""
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = T_975_DF2 * std / math.sqrt(len(values))
    return mean, mean - half, mean + half


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("report")
    cfg = make_cfg(["cub200"], METHODS, SEEDS)
    runs_dir, out_dir, data_root = write_logs(tmp, cfg)
    deviations = tmp / "deviations.md"
    deviations.write_text("# Deviations\n\n## Deviations\n\n### FAISS instead of FANNG\n\n## Our choices\n")
    report = build_report(cfg, runs_dir, out_dir, data_root, deviations=deviations)
    return {"cfg": cfg, "runs": runs_dir, "out": out_dir, "report": report, "text": report.read_text(), "tmp": tmp}


def test_every_table_and_figure_is_written(built: dict) -> None:
    out = built["out"]
    for name in ("REPORT.md", "summary.csv", "curves.csv", "metrics.json", "readings_cub200.md", "readings.json",
                 "STAMP.json"):
        assert (out / name).stat().st_size > 50, name
    for stem in ("claims", "primary", "compute", "regime", "convergence", "sweep_kappa", "sweep_kappa0", "sweep_fraction",
                 "results", "time_split"):
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{stem}_cub200.{ext}").stat().st_size > 50, stem
    for stem in ("fig4_recall", "fig3_controller", "fig7_kappa", "fig8_fraction", "fig9_tsne", "fig5_triplets", "time_split"):
        png, pdf = out / "figures" / f"{stem}_cub200.png", out / "figures" / f"{stem}_cub200.pdf"
        with Image.open(png) as im:
            assert im.width > 200 and im.height > 150, stem
        assert pdf.stat().st_size > 2000 and pdf.read_bytes()[:4] == b"%PDF"
    assert "skipped" not in built["text"].lower() and "Notes on the inputs" not in built["text"]
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_primary_table_mean_and_interval_over_seeds(built: dict) -> None:
    table = pd.read_csv(built["out"] / "tables" / "primary_cub200.csv").set_index("method")
    for method in METHODS:
        mean, lo, hi = ci(FINAL_R1[method])
        row = table.loc[method]
        assert row["recall@1_mean"] == pytest.approx(100 * mean, abs=1e-4)
        assert (row["recall@1_ci_lo"], row["recall@1_ci_hi"]) == (pytest.approx(100 * lo, abs=1e-4), pytest.approx(100 * hi, abs=1e-4))
        assert row["recall@1_n"] == 3 and row["n_seeds"] == 3
    assert table.loc["pretrained", "recall@1_mean"] == pytest.approx(30.0) and table.loc["pretrained", "n_seeds"] == 1
    assert bool(table.loc["untrained", "baseline"])
    mean, lo, hi = ci(FINAL_R1["smart"])
    md = (built["out"] / "tables" / "primary_cub200.md").read_text()
    assert "| smart | 3 | " in md and f"{100 * mean:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]" in md
    assert "| baseline: pretrained | 1 | 30.0 |" in md
    summary = pd.read_csv(built["out"] / "summary.csv")
    assert {"mean", "std", "n_seeds", "ci_lo", "ci_hi"} <= set(summary.columns)


def test_metrics_json_is_small_and_nested_per_method(built: dict) -> None:
    metrics = json.loads((built["out"] / "metrics.json").read_text())
    assert set(metrics["cub200"]) == set(METHODS) | {"untrained", "pretrained"}  # no sweep points
    assert set(metrics["cub200"]["smart"]) == {"recall@1", "recall@8", "nmi", "map@r"}
    assert metrics["cub200"]["smart"]["recall@1"] == pytest.approx(round(np.mean(FINAL_R1["smart"]), 4))


def holm_p(raw: float, rank_multiplier: int) -> str:
    return f"{min(1.0, rank_multiplier * raw):.3f}"


def test_readings_give_holm_controlled_verdicts(built: dict) -> None:
    text = built["text"]
    mean, lo, hi = ci([0.05, 0.06, 0.04])
    raw = sps.ttest_1samp([0.05, 0.06, 0.04], 0.0).pvalue  # about 0.013: "better" before any correction
    # family "pairs": 3 comparisons x (difference, TOST) = 6 hypotheses; this p is the smallest, so x 6
    assert (f"`smart` vs `random`, test R@1 (means 46.00 vs 41.00): paired difference "
            f"+{100 * mean:.2f} [+{100 * lo:.2f}, +{100 * hi:.2f}] points (3 seeds), 95% t-interval over seeds 0, 1, 2; "
            f"p {holm_p(raw, 6)}, TOST ±2 p 1.000 (Holm): **inconclusive**.") in text
    assert "Family `pairs` (exploratory: the other pairs of methods, test R@1): 3 comparisons, 6 hypotheses" in text
    assert "Family `primary` (the claims C1-C4 of PAPER.md section 10): 5 comparisons, 10 hypotheses" in text
    assert "Holm" in text and "no detectable difference" not in text
    assert "Not run, so not compared: `smart+adaptive`/`smart`." in text
    assert "± " not in text and " std" not in text  # never a difference against a std
    readme_part = (built["out"] / "readings_cub200.md").read_text()
    assert "Claims C1-C4" in readme_part and "Per compute, anytime (exploratory)" in readme_part


def test_claims_lead_the_report_with_one_verdict_each(built: dict) -> None:
    text = built["text"]
    assert text.index("## The claims (PAPER.md section 10)") < text.index("## cub200")
    claims = pd.read_csv(built["out"] / "tables" / "claims_cub200.csv")
    verdicts: dict[str, str] = {}
    for claim, verdict in zip(claims["Claim"], claims["Verdict"]):
        verdicts.setdefault(claim.split()[0], verdict)  # C4's second row is its final R@1, beside the speed
    assert claims["Claim"].tolist()[-1] == "C4 beside the speed: final R@1"
    # C1 +1 [-1.5, +3.5], C2 -2.3 [-11, +6.4], C3 -4 (raw p 0.02, Holm x 9 = 0.18): inconclusive; C4: adaptive
    # reaches 95% of the gain at epoch 2 in every seed, fixed at 6: -4 epochs in all seeds (exact), supported
    assert verdicts["C1"] == verdicts["C2"] == verdicts["C3"] == "**inconclusive**"
    assert verdicts["C4"] == "**supported**"
    data = json.loads((built["out"] / "readings.json").read_text())
    assert {c["claim"]: c["verdict"] for c in data["claims"]} == {"C1": "inconclusive", "C2": "inconclusive",
                                                                 "C3": "inconclusive", "C4": "supported"}
    c3 = next(r for r in data["readings"] if r["id"] == "cub200/primary/C3")
    raw = sps.ttest_1samp([-0.04, -0.05, -0.03], 0.0).pvalue
    assert c3["p"] == pytest.approx(raw, abs=1e-6) and c3["p_holm"] == pytest.approx(9 * raw, abs=1e-5)
    assert (c3["estimate"], c3["n"], c3["family_size"], c3["margin"]) == (pytest.approx(-4.0), 3, 10, 2.0)
    assert set(data["stamp"]) == {"commit", "code_digest", "cpu", "date"} and data["margins"] == {"points": 2.0, "epochs": 1.0}
    stamp_file = json.loads((built["out"] / "STAMP.json").read_text())
    assert {"REPORT.md", "readings.json", "summary.csv", "tables/claims_cub200.csv", "figures/fig4_recall_cub200.png"} <= set(stamp_file["files"])
    assert stamp_file["commit"] == data["stamp"]["commit"] and f"commit `{data['stamp']['commit']}`" in text.splitlines()[2]


def test_convergence_on_the_gain_and_plateau(built: dict) -> None:
    conv = pd.read_csv(built["out"] / "tables" / "convergence_cub200.csv").set_index("method")
    # epoch 0 is half the final value; 95% of the gain is 0.975 of the final: fixed reaches it at epoch 6
    assert conv.loc["smart+global", "epoch_mean"] == 6 and conv.loc["smart+global+adaptive", "epoch_mean"] == 2
    assert conv.loc["smart+global", "at0_mean"] == pytest.approx(0.5 * np.mean(FINAL_R1["smart+global"]))
    assert conv.loc["smart+global", "gain_mean"] == pytest.approx(0.5 * np.mean(FINAL_R1["smart+global"]))
    shape = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.96, 1.0])  # seeds 0 and 1 of the fixed run
    area = np.mean([(np.sum(shape[1:] + shape[:-1]) / 2 / 6) * 0.41, (np.sum(shape[1:] + shape[:-1]) / 2 / 6) * 0.43,
                    (np.sum(np.add([0.6, 0.7, 0.8, 0.95, 0.97, 1.0], [0.5, 0.6, 0.7, 0.8, 0.95, 0.97])) / 2 / 6) * 0.42])
    assert conv.loc["smart+global", "auc_mean"] == pytest.approx(area)
    text = built["text"]
    assert "Ratio `smart+global+adaptive` / `smart+global` of the epochs to 95% of each seed's gain" in text
    assert "0.33 [0.33, 0.33]" in text and "**smart+global+adaptive faster than smart+global**" in text
    not_conv = next(line for line in text.splitlines() if "**Not converged**" in line)
    assert "`smart+global` (+" in not_conv and "`smart`" not in not_conv.replace("`smart+global`", "")
    assert ('**Flagged** seed 1 at epochs 5 (unreachable (1); target error 0.5), last reason: "error above target '
            'at kappa_hi"') in text


def test_equal_compute_and_regime_tables(built: dict) -> None:
    comp = pd.read_csv(built["out"] / "tables" / "compute_cub200.csv").set_index("method")
    assert comp.loc["random", "passes_per_epoch"] == pytest.approx(3 * TRIPLETS)
    assert comp.loc["smart", "passes_per_epoch"] == pytest.approx((2 * 900 + 4 * 1000) / 6, rel=1e-5)  # re-embedding from epoch 3
    assert comp.loc["smart", "compute_per_epoch"] == pytest.approx((2 * 900 + 4 * 945) / 6, rel=1e-5)  # at 0.45 a pass
    assert comp.loc["smart", "seconds_per_epoch"] == pytest.approx((2 * 1.3 + 4 * 1.5) / 6, rel=1e-5)  # t_eval left out
    assert comp.loc["random", "cum_passes_budget"] == pytest.approx(EPOCHS * 3 * TRIPLETS)
    # random spends exactly the budget: its value there is its last validation R@1, the final value
    assert comp.loc["random", "cum_passes_mean"] == pytest.approx(np.mean(FINAL_R1["random"]), rel=1e-5)
    regime = pd.read_csv(built["out"] / "tables" / "regime_cub200.csv").set_index("method")
    assert regime.loc["smart", ["epoch0", "first", "last"]].tolist() == pytest.approx([0.8, 0.7, 0.9])
    assert "**Per compute, anytime (exploratory).**" in built["text"] and "5,400 compute passes" in built["text"]
    assert "### Equal-compute view (anytime)" in built["text"] and "stopped early, mid-schedule" in built["text"]


def test_selection_sweeps_and_budget_check(built: dict) -> None:
    text = built["text"]
    assert ("| cub200 | `smart+global` | 2 | lr 0.001, kappa 4 | lr 0.0005, kappa 1: 61.0; lr 0.001, kappa 4: 64.0 "
            "| val_recall@1, seeds 100 |") in text
    assert "**The tuning budget is equal**: every method of the matrix had 2 validation runs" in text
    assert "The value chosen on validation classes: 4." in text
    sweep = pd.read_csv(built["out"] / "tables" / "sweep_kappa0_cub200.csv")
    assert sorted(sweep["x"].unique()) == [1, 16]
    assert f"Equal triplet budget: every method trained on {TRIPLETS} triplets and 5 optimizer steps per epoch." in text
    assert "The pretrained network reaches test R@1 30.00. All 6 methods lie above it" in text


def test_report_links_resolve(built: dict) -> None:
    links = re.findall(r"\]\(([^)]+)\)", built["text"])
    assert len(links) > 30
    for link in links:
        assert (built["out"] / link).resolve().exists(), link
    assert "- Deviations" in built["text"] and "  - FAISS instead of FANNG" in built["text"]


def test_readme_block_is_replaced_between_the_markers(built: dict) -> None:
    readme = built["tmp"] / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{START}\nold text\n{END}\n\nafter\n")
    update_readme(readme, built["out"], "synthetic")  # the old markers migrate to the profile's
    text = readme.read_text()
    start, end = markers("synthetic")
    assert text.startswith("# Title\n\nintro\n\n" + start) and text.endswith(end + "\n\nafter\n")
    assert "old text" not in text and "#### cub200" in text and START not in text
    assert ("**The verdict on `cub200`**: C1 (smart mining beats random triplets) **inconclusive**; C2 (the full "
            "method beats semi-hard) **inconclusive**; C3 (the global loss helps smart mining) **inconclusive**; C4 "
            "(the adaptive controller converges faster) **supported**.") in text
    assert "`random` ends detectably above the pretrained-only network" in text
    assert "| baseline: pretrained | 1 | 30.0 |" in text and "[results/synthetic/REPORT.md](results/REPORT.md)" in text
    update_readme(readme, built["out"], "synthetic")
    assert readme.read_text() == text  # idempotent
    other_start, other_end = markers("other")
    readme.write_text(text + f"\n{other_start}\nkept\n{other_end}\n")
    update_readme(readme, built["out"], "synthetic")
    assert "kept" in readme.read_text()  # another profile's block is left alone
    with pytest.raises(SmartMiningError, match=r"expected the markers <!-- results:nothere:start -->"):
        update_readme(readme, built["out"], "nothere")
    readme.write_text("# no markers\n")
    with pytest.raises(SmartMiningError, match=r"README\.md: expected the markers"):
        update_readme(readme, built["out"], "synthetic")
    with pytest.raises(SmartMiningError, match=r"metrics\.json: no such file; build the report first"):
        update_readme(readme, built["tmp"] / "nowhere", "synthetic")


def test_old_logs_without_the_new_columns_still_build_with_notes(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard", "smart+global", "smart+global+adaptive"], [0, 1], sweeps=False)
    runs_dir, out_dir, data_root = write_logs(tmp_path, cfg, columns=OLD_COLUMNS, extras=False)
    text = build_report(cfg, runs_dir, out_dir, data_root, deviations=tmp_path / "absent.md").read_text()
    notes = text.split("## Notes on the inputs")[1]
    for column in ("val_recall@1", "image_passes", "compute_passes", "random_zero_loss", "kappa_lo", "n_steps"):
        assert f"Column `{column}` is absent" in notes, column
    assert "No selection file" in notes and "selection/glyphs.json" in notes and "No controller.json for the adaptive runs" in notes
    assert "No pretrained-network metrics" in text and "No `random_zero_loss` column" in text
    assert "use the test R@1 per epoch" in text and "no difference column" in text
    assert "**no verdict" not in text  # two seeds: intervals exist
    for fig in ("Fig. 7", "Fig. 8"):
        assert re.search(rf"\*{re.escape(fig)}[^*]*skipped", text), fig
    for stem in ("fig3_controller", "fig4_recall"):
        assert (out_dir / "figures" / f"{stem}_glyphs.png").is_file()


def test_one_seed_has_no_verdict_and_missing_adaptive_is_noted(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard", "smart"], [0], sweeps=False)
    runs_dir, out_dir, data_root = write_logs(tmp_path, cfg)
    text = build_report(cfg, runs_dir, out_dir, data_root, deviations=tmp_path / "absent.md").read_text()
    assert "**inconclusive (1 shared seed: no test)**" in text
    assert "convergence claim is not tested" in text
    assert re.search(r"\*Fig\. 3[^*]*skipped", text)


def test_runs_without_logs_are_listed_not_fatal(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard", "smart"], [0, 1], sweeps=False)
    runs_dir, out_dir, data_root = write_logs(tmp_path, cfg)
    (runs_dir / "glyphs" / "semihard" / "seed1" / "epochs.csv").unlink()
    text = build_report(cfg, runs_dir, out_dir, data_root).read_text()
    assert "Runs found: 3 of 4" in text and "`glyphs/semihard/seed1`" in text
    assert "(1 seed), 95% t-interval over seeds 0;" in text  # the pair uses the seeds both ran


def test_no_run_logs_at_all_is_a_clear_error(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard"], [0], sweeps=False)
    with pytest.raises(SmartMiningError, match=r"no epochs\.csv of any of the profile's 1 runs .*glyphs/semihard/seed0"):
        build_report(cfg, tmp_path / "runs", tmp_path / "out", tmp_path / "data")


def test_a_parameter_every_method_chose_at_one_end_of_its_grid_is_flagged() -> None:
    from smartmining.report.build import grid_edge_lines

    cfg = {"tuning": {"lr": [0.0005, 0.001], "mined_fraction": [0.5, 1.0]}}
    selection = pd.DataFrame({"dataset": ["glyphs"] * 3, "chosen": [
        {"train.lr": 0.0005}, {"train.lr": 0.0005, "train.mined_fraction": 1.0},
        {"train.lr": 0.0005, "train.mined_fraction": 0.5}]})
    lines = grid_edge_lines(selection, cfg)
    assert len(lines) == 1 and "`tuning.lr`" in lines[0] and "lowest value, 0.0005 (3 of 3)" in lines[0]
    selection.at[0, "chosen"] = {"train.lr": 0.001}  # one method chose the other end: no flag
    assert grid_edge_lines(selection, cfg) == []
