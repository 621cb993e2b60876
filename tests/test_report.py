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
from report_logs import EPOCHS, FINAL_R1, METHODS, OLD_COLUMNS, SEEDS, TRIPLETS, make_cfg, write_logs

from smartmining.errors import SmartMiningError
from smartmining.report import build_report
from smartmining.report.readme import END, START, update_readme

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
    for name in ("REPORT.md", "summary.csv", "curves.csv", "metrics.json", "readings_cub200.md"):
        assert (out / name).stat().st_size > 50, name
    for stem in ("primary", "compute", "regime", "convergence", "sweep_kappa", "sweep_kappa0", "sweep_fraction",
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


def test_readings_give_paired_verdicts(built: dict) -> None:
    text = built["text"]
    mean, lo, hi = ci([0.05, 0.06, 0.04])
    assert (f"`smart` vs `random`, test R@1 (means over the shared seeds 46.00 vs 41.00): paired difference "
            f"+{100 * mean:.2f} [+{100 * lo:.2f}, +{100 * hi:.2f}] points") in text
    assert "**smart better than random**" in text
    smart_vs_semihard = next(line for line in text.splitlines() if line.startswith("- `smart` vs `semihard`, test R@1"))
    assert smart_vs_semihard.endswith("**no detectable difference**.")
    assert "**smart better than smart+global**" in text  # the global loss hurts here: [-.04, -.05, -.03]
    assert "Not run, so not compared: `smart+adaptive`/`smart`." in text
    assert "± " not in text and " std" not in text  # never a difference against a std
    readme_part = (built["out"] / "readings_cub200.md").read_text()
    assert "**smart better than random**" in readme_part and "Per compute, anytime" in readme_part


def test_convergence_ratio_claim_and_plateau(built: dict) -> None:
    conv = pd.read_csv(built["out"] / "tables" / "convergence_cub200.csv").set_index("method")
    assert conv.loc["smart+global", "epoch_mean"] == pytest.approx((5 + 5 + 4) / 3, rel=1e-5)
    assert conv.loc["smart+global+adaptive", "epoch_mean"] == 1
    mean, lo, hi = ci([1 / 5, 1 / 5, 1 / 4])
    text = built["text"]
    assert f"paired ratio {mean:.2f} [{lo:.2f}, {hi:.2f}] (mean over seeds of the per-seed ratio" in text
    assert "The paper's claim of about 5x fewer epochs holds on our data" in text
    assert "**smart+global+adaptive better than smart+global** (fewer epochs to 95%)" in text
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
    assert "**Per compute, anytime**" in built["text"] and "5,400 compute passes" in built["text"]
    assert "### Equal-compute view (anytime)" in built["text"] and "stopped early, mid-schedule" in built["text"]


def test_selection_sweeps_and_budget_check(built: dict) -> None:
    text = built["text"]
    assert "| kappa | cub200 | 4 | `smart+global` seeds 0, validation classes | val_recall@1 | 1: 61.0; 4: 64.0 |" in text
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
    update_readme(readme, built["out"])
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n\n" + START) and text.endswith(END + "\n\nafter\n")
    assert "old text" not in text and "#### cub200" in text and "**smart better than random**" in text
    assert "| baseline: pretrained | 1 | 30.0 |" in text and "[results/REPORT.md](results/REPORT.md)" in text
    update_readme(readme, built["out"])
    assert readme.read_text() == text  # idempotent
    readme.write_text("# no markers\n")
    with pytest.raises(SmartMiningError, match=r"README\.md: expected the markers"):
        update_readme(readme, built["out"])
    with pytest.raises(SmartMiningError, match=r"metrics\.json: no such file; build the report first"):
        update_readme(readme, built["tmp"] / "nowhere")


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
    assert "**no verdict (1 shared seed: no interval)**" in text
    assert "convergence claim is not tested" in text
    assert re.search(r"\*Fig\. 3[^*]*skipped", text)


def test_runs_without_logs_are_listed_not_fatal(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard", "smart"], [0, 1], sweeps=False)
    runs_dir, out_dir, data_root = write_logs(tmp_path, cfg)
    (runs_dir / "glyphs" / "semihard" / "seed1" / "epochs.csv").unlink()
    text = build_report(cfg, runs_dir, out_dir, data_root).read_text()
    assert "Runs found: 3 of 4" in text and "`glyphs/semihard/seed1`" in text
    assert "95% t-interval over 1 shared seed: 0" in text  # the pair uses the seeds both ran


def test_no_run_logs_at_all_is_a_clear_error(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard"], [0], sweeps=False)
    with pytest.raises(SmartMiningError, match=r"no epochs\.csv of any of the profile's 1 runs .*glyphs/semihard/seed0"):
        build_report(cfg, tmp_path / "runs", tmp_path / "out", tmp_path / "data")
