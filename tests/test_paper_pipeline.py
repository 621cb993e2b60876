"""The `paper` profile's code paths through `snakemake all`, at test scale: the `paper-test` profile
(GoogLeNet 256/227, SGD with lr halving, HNSW, selection on validation classes) on a fake CUB archive."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from fixtures_paper import build_cub
from test_pipeline import make_project, snakemake

PROFILE = "paper-test"
CLASSES = (*range(1, 7), *range(101, 104))  # 6 training classes (2 of them validate), 3 test classes
PER_CLASS = 5


def feed_archive(project: Path, archive: Path) -> None:
    """Where the pipeline finds the local CUB archive (the one place to change when the download folder,
    SMARTMINING_DOWNLOADS, takes over)."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["profiles"][PROFILE]["data"]["cub200"]["archive"] = str(archive)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def paper_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    fixture = build_cub(tmp_path_factory.mktemp("cub"), class_ids=CLASSES, per_class=PER_CLASS)
    project = make_project(tmp_path_factory.mktemp("project"))
    feed_archive(project, fixture.archive)
    start = time.monotonic()
    snakemake(project, "all", "--config", f"profile={PROFILE}")
    return project, time.monotonic() - start  # benchmarks, not this test, hold the target


@pytest.mark.slow
def test_the_paper_profile_at_test_scale_runs_end_to_end_and_marks_its_published_columns(paper_project) -> None:
    project, seconds = paper_project
    print(f"snakemake all --config profile={PROFILE}: {seconds:.0f} s")
    report = (project / "results" / PROFILE / "REPORT.md").read_text()
    published = report[report.index("### Published numbers beside ours"):]
    assert "**Caveat (\\*): not the paper's protocol**" in published.split("|")[0]
    for gap in ("random initialisation instead of ImageNet weights", "2 epochs instead of the paper's 20",
                "runs on the CPU, not a GPU"):
        assert gap in published
    assert "| Δ R@1* |" in published and "| paper R@1* |" in published  # the CUB table with its marked columns
    assert "Device: cpu" in report and "Weights: random initialisation" in report and "Epochs: 2" in report
    assert "## Missing from this report" not in report


@pytest.mark.slow
def test_the_paper_paths_ran_googlenet_sgd_hnsw_and_the_selection(paper_project) -> None:
    project, _ = paper_project
    runs = project / "runs" / PROFILE / "cub200"
    first = (project / "logs" / PROFILE / "train" / "cub200" / "semihard" / "seed0.log").read_text().splitlines()[0]
    assert "device: cpu, 1 threads, float32" in first  # the device first; autocast off on the CPU
    config = json.loads((runs / "smart+global+adaptive" / "seed0" / "config.json").read_text())
    assert config["model"]["backbone"] == "googlenet" and config["transform"]["size"] == 227
    assert config["train"]["optimizer"] == "sgd"
    epochs = (runs / "smart+global+adaptive" / "seed0" / "epochs.csv").read_text()
    assert "hnsw" in epochs
    import pandas as pd

    lr = pd.read_csv(runs / "smart+global+adaptive" / "seed0" / "epochs.csv")["lr"].dropna().tolist()
    assert lr[-1] == pytest.approx(lr[0] / 2)  # halved after epoch 1 (lr_step_epochs: 1)
    selection = json.loads((project / "results" / PROFILE / "selection" / "cub200.json").read_text())
    assert set(selection["methods"]) == {"random+global", "semihard", "smart+global+adaptive"}  # each its own choice
    assert config["train"]["lr"] == selection["methods"]["smart+global+adaptive"]["chosen"]["train.lr"]
