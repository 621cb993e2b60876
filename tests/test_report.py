"""The report stage end to end on small synthetic run logs written into tmp_path."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from smartmining.errors import SmartMiningError
from smartmining.report import build_report
from smartmining.report.runs import METRICS

EPOCH_COLUMNS = ["epoch", "loss", "loss_triplet", "loss_global", "train_error", "kappa", "mined_fraction",
                 "n_triplets", "n_mined", "random_fallbacks", "lr", "t_embed", "t_index", "t_mine", "t_train",
                 "t_eval", "t_epoch", "index", "index_recall"]
METHODS = ["semihard", "smart+global", "smart+global+adaptive"]
SEEDS = [0, 1, 2]
EPOCHS = 4
N_TRAIN, N_TEST, N_CLASSES = 12, 40, 4
BASE = {"semihard": 0.50, "smart+global": 0.40, "smart+global+adaptive": 0.45,
        "sweep-kappa-4": 0.30, "sweep-kappa-16": 0.35, "sweep-fraction-0.2": 0.32, "sweep-fraction-0.6": 0.38}


def make_cfg(datasets: list[str], methods: list[str], seeds: list[int], sweeps: bool = True) -> dict:
    values = ([4, 16], [0.2, 0.6]) if sweeps else ([], [])
    return {
        "profile": "synthetic", "description": "synthetic logs", "datasets": datasets, "methods": methods,
        "seeds": seeds, "controller": {"target_error": 0.5},
        "sweeps": {"kappa": {"method": "smart+global", "values": values[0], "seeds": [0]},
                   "mined_fraction": {"method": "smart+global+adaptive", "values": values[1], "seeds": [0]}},
    }


def epoch_rows(run: str, seed: int) -> pd.DataFrame:
    """A rising R@1 curve per run and seed, with every column of the real epochs.csv."""
    rows = []
    for e in range(1, EPOCHS + 1):
        r1 = BASE[run] + 0.05 * e + 0.01 * seed
        mining = run != "semihard" and e > 1
        rows.append({
            "epoch": e, "loss": 1.0 / e, "loss_triplet": 0.8 / e, "loss_global": 0.2 / e,
            "train_error": 0.9 - 0.1 * e + 0.01 * seed, "kappa": (16.0 / e if "adaptive" in run else 16.0) if run != "semihard" else math.nan,
            "mined_fraction": 0.5 if mining else 0.0, "n_triplets": N_TRAIN, "n_mined": 6 if mining else 0,
            "random_fallbacks": 3 if mining else 0, "lr": 0.001, "t_embed": 0.1 if mining else 0.0, "t_index": 0.01 if mining else 0.0,
            "t_mine": 0.02 if mining else 0.0, "t_train": 1.0, "t_eval": 0.3, "t_epoch": 1.5 + 0.1 * seed,
            "index": "flat" if mining else "", "index_recall": 1.0 if mining else math.nan,
            "recall@1": r1, "recall@2": r1 + 0.05, "recall@4": r1 + 0.1, "recall@8": r1 + 0.15,
            "nmi": r1 + 0.02, "map@r": r1 / 2, "r_precision": r1 / 1.5,
        })
    return pd.DataFrame(rows)


def write_run(folder: Path, run: str, seed: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    df = epoch_rows(run, seed)
    df.to_csv(folder / "epochs.csv", index=False)
    final = {m: float(df[m].iloc[-1]) + 0.001 for m in METRICS}  # eval.json differs from the last row on purpose
    (folder / "eval.json").write_text(json.dumps(final))
    (folder / "metrics.json").write_text(json.dumps({m: float(df[m].iloc[-1]) for m in METRICS}))
    np.save(folder / "test_embeddings.npy", rng.normal(size=(N_TEST, 8)).astype(np.float32))
    np.save(folder / "test_labels.npy", np.repeat(np.arange(N_CLASSES), N_TEST // N_CLASSES))
    paths = [f"train/{i // 3}/{i}.png" for i in range(N_TRAIN)]
    epochs = [{"epoch": e, "mined": [[0, 1, 3], [3, 4, 6]], "random": [[0, 2, 9], [3, 5, 11]]} for e in range(2, EPOCHS + 1)]
    (folder / "samples.json").write_text(json.dumps({"train_paths": paths, "epochs": epochs if run != "semihard" else []}))


def write_images(root: Path) -> None:
    for i in range(N_TRAIN):
        path = root / f"train/{i // 3}/{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 20 * i, dtype=np.uint8)).save(path)


def write_logs(tmp: Path, cfg: dict) -> tuple[Path, Path, Path]:
    from smartmining.report.runs import expected_runs

    runs_dir, out_dir, data_root = tmp / "runs", tmp / "results", tmp / "data"
    rng = np.random.default_rng(0)
    for run in expected_runs(cfg):
        write_run(runs_dir / run.folder, run.name, run.seed, rng)
    for dataset in cfg["datasets"]:
        write_images(data_root / dataset)
        (out_dir / "untrained" / dataset).mkdir(parents=True, exist_ok=True)
        (out_dir / "untrained" / dataset / "metrics.json").write_text(json.dumps({m: 0.1 for m in METRICS}))
    return runs_dir, out_dir, data_root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("report")
    cfg = make_cfg(["glyphs", "cub200"], METHODS, SEEDS)
    runs_dir, out_dir, data_root = write_logs(tmp, cfg)
    deviations = tmp / "deviations.md"
    deviations.write_text("# Deviations\n\n## Deviations\n\n### FAISS instead of FANNG\n\n## Our choices\n")
    report = build_report(cfg, runs_dir, out_dir, data_root, deviations=deviations)
    return {"cfg": cfg, "runs": runs_dir, "out": out_dir, "report": report, "text": report.read_text()}


def test_every_table_and_figure_is_written(built: dict) -> None:
    out = built["out"]
    for name in ("REPORT.md", "summary.csv", "curves.csv", "metrics.json"):
        assert (out / name).stat().st_size > 50, name
    for ds in ("glyphs", "cub200"):
        for stem in ("results", "convergence", "sweep_kappa", "sweep_fraction", "time_split"):
            for ext in ("csv", "md", "tex"):
                assert (out / "tables" / f"{stem}_{ds}.{ext}").stat().st_size > 50
        for stem in ("fig4_recall", "fig3_controller", "fig7_kappa", "fig8_fraction", "fig9_tsne", "fig5_triplets", "time_split"):
            png, pdf = out / "figures" / f"{stem}_{ds}.png", out / "figures" / f"{stem}_{ds}.pdf"
            with Image.open(png) as im:
                assert im.width > 200 and im.height > 150, stem
            assert pdf.stat().st_size > 2000 and pdf.read_bytes()[:4] == b"%PDF"
    assert "skipped" not in built["text"].lower()
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_recall_curve_file_for_dvc_plots_holds_the_mean_over_seeds(built: dict) -> None:
    wide = pd.read_csv(built["out"] / "recall_at_1_glyphs.csv", index_col="epoch")
    assert {"random", "random+global", "semihard", "hard", "smart", "smart+global", "smart+global+adaptive"} <= set(wide.columns)
    method = METHODS[0]
    per_seed = [pd.read_csv(built["runs"] / "glyphs" / method / f"seed{s}" / "epochs.csv").set_index("epoch")["recall@1"]
                for s in SEEDS]
    expected = sum(per_seed) / len(per_seed)
    np.testing.assert_allclose(wide[method].to_numpy(), expected.to_numpy(), rtol=1e-5)


def test_summary_mean_and_std_equal_the_logs(built: dict) -> None:
    summary = pd.read_csv(built["out"] / "summary.csv")
    for method in METHODS:
        values = [json.loads((built["runs"] / "glyphs" / method / f"seed{s}" / "eval.json").read_text())["recall@1"] for s in SEEDS]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        row = summary[(summary.dataset == "glyphs") & (summary.run == method) & (summary.metric == "recall@1")].iloc[0]
        assert row["mean"] == pytest.approx(mean, abs=1e-6)
        assert row["std"] == pytest.approx(std, abs=1e-6)
        assert row["n_seeds"] == 3
    metrics = json.loads((built["out"] / "metrics.json").read_text())
    assert metrics["cub200"]["untrained"]["nmi"] == pytest.approx(0.1)
    assert metrics["glyphs"]["sweep-kappa-16"]["recall@1"] == pytest.approx(BASE["sweep-kappa-16"] + 0.05 * EPOCHS + 0.001, abs=1e-6)


def test_results_table_cells_and_published_difference(built: dict) -> None:
    table = pd.read_csv(built["out"] / "tables" / "results_cub200.csv").set_index("method", drop=False)
    full = table.loc["smart+global+adaptive"]
    r1 = [BASE["smart+global+adaptive"] + 0.05 * EPOCHS + 0.01 * s + 0.001 for s in SEEDS]
    assert full["recall@1_mean"] == pytest.approx(100 * np.mean(r1), abs=1e-4)
    assert full["paper_recall@1"] == pytest.approx(49.78)
    assert full["diff_recall@1"] == pytest.approx(100 * np.mean(r1) - 49.78, abs=1e-4)
    assert table.loc["semihard", "paper_nmi"] == pytest.approx(55.38)
    assert table.loc["untrained", "recall@8_mean"] == pytest.approx(10.0)
    md = (built["out"] / "tables" / "results_cub200.md").read_text()
    assert f"{100 * np.mean(r1):.2f} ± {100 * np.std(r1, ddof=1):.2f}" in md
    assert "Lifted Structure" in md  # the published-only rows close the table
    glyphs = pd.read_csv(built["out"] / "tables" / "results_glyphs.csv")
    assert not any(c.startswith("diff_") for c in glyphs.columns)
    assert "no difference column" in built["text"]


def test_convergence_table_and_readings(built: dict) -> None:
    conv = pd.read_csv(built["out"] / "tables" / "convergence_glyphs.csv").set_index("method")
    # mean R@1 of smart+global per epoch: 0.41 + 0.05 e; best 0.61 at epoch 4, 95% = 0.5795 -> epoch 4
    assert conv.loc["smart+global", "epoch"] == 4
    # semihard: 0.51 + 0.05 e, best 0.71, 95% = 0.6745 -> epoch 4 (0.66 at epoch 3 is below)
    assert conv.loc["semihard", "epoch"] == 4
    assert conv.loc["semihard", "seconds"] == pytest.approx(4 * 1.6)  # mean over seeds of cumulative t_epoch
    text = built["text"]
    assert "`smart+global+adaptive` does not beat `semihard` on R@1" in text
    assert "Best κ by final R@1: 16" in text
    assert "Final R@1 rises with the mined fraction" in text
    assert "Index `flat`" in text and "The untrained network reaches R@1 10.00" in text
    assert "fell back to random ones (over all epochs and seeds): `smart+global` 50%" in text


def test_report_links_resolve(built: dict) -> None:
    links = re.findall(r"\]\(([^)]+)\)", built["text"])
    assert len(links) > 30
    for link in links:
        assert (built["out"] / link).resolve().exists(), link
    assert "- Deviations" in built["text"] and "  - FAISS instead of FANNG" in built["text"]


def test_missing_sweeps_and_adaptive_method_are_skipped_with_a_note(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard", "smart+global"], [0], sweeps=False)
    runs_dir, out_dir, data_root = write_logs(tmp_path, cfg)
    (runs_dir / "glyphs" / "smart+global" / "seed0" / "samples.json").unlink()
    text = build_report(cfg, runs_dir, out_dir, data_root, deviations=tmp_path / "absent.md").read_text()
    for fig in ("Fig. 3", "Fig. 7", "Fig. 8", "Figs. 5-6/10"):
        assert re.search(rf"\*{re.escape(fig)}[^*]*skipped", text), fig
    assert (out_dir / "figures" / "fig4_recall_glyphs.png").is_file()
    assert not (out_dir / "figures" / "fig7_kappa_glyphs.png").exists()
    assert "convergence claim is not tested" in text
    assert "one seed each" in text


def test_runs_without_logs_are_listed_not_fatal(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard", "smart+global"], [0, 1], sweeps=False)
    runs_dir, out_dir, data_root = write_logs(tmp_path, cfg)
    (runs_dir / "glyphs" / "semihard" / "seed1" / "epochs.csv").unlink()
    text = build_report(cfg, runs_dir, out_dir, data_root).read_text()
    assert "Runs found: 3 of 4" in text and "`glyphs/semihard/seed1`" in text


def test_no_run_logs_at_all_is_a_clear_error(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["semihard"], [0], sweeps=False)
    with pytest.raises(SmartMiningError, match=r"no epochs\.csv of any of the profile's 1 runs .*glyphs/semihard/seed0"):
        build_report(cfg, tmp_path / "runs", tmp_path / "out", tmp_path / "data")
