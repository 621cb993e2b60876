"""Issue 23: the paper profile with local copies in the download folder (SMARTMINING_DOWNLOADS) prepares CUB and
Cars196 through the pipeline, and no archive path or download setting is in any training cache key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from fixtures_paper import build_cars, build_cub
from smartmining.config import load_params
from smartmining.runs import cache_key
from test_pipeline import make_project, snakemake

PROFILE = "paper-local"
CUB_IDS, CARS_IDS = (1, 2, 3, 4, 101, 102), (95, 96, 97, 98, 99, 100)


def local_profile(cub, cars) -> dict:
    """The paper profile; only what the fake archives need: their checksums and counts, 2 validation classes."""
    return {"base": "paper", "data": {
        "cub200": {"md5": cub.md5, "expected": cub.counts(set(CUB_IDS[:4])), "val_classes": 2, "progress": False},
        "cars196": {"md5": cars.md5, "annotations_md5": cars.annotations_md5, "expected": cars.counts(set(CARS_IDS[:4])),
                    "val_classes": 2, "progress": False}}}


@pytest.mark.slow
def test_the_paper_profile_prepares_both_datasets_from_the_download_folder(tmp_path: Path) -> None:
    downloads = Path(os.environ["SMARTMINING_DOWNLOADS"])  # conftest gives each test its own
    downloads.mkdir(parents=True, exist_ok=True)
    cub, cars = build_cub(downloads, CUB_IDS, per_class=3), build_cars(downloads, CARS_IDS, per_class=3)
    (tmp_path / "p").mkdir()
    project = make_project(tmp_path / "p")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["profiles"][PROFILE] = local_profile(cub, cars)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    snakemake(project, f"data/{PROFILE}/cub200/manifest.csv", f"data/{PROFILE}/cars196/manifest.csv",
              "--config", f"profile={PROFILE}")
    for dataset in ("cub200", "cars196"):
        record = json.loads((project / "data" / PROFILE / dataset / "dataset.json").read_text())
        assert record["manifest_sha256"] and str(downloads) not in json.dumps(record.get("options", {}))
    # the training cache keys: the same whichever folder or spelling the archives came from
    cfg = load_params(project / "params.yaml", PROFILE)
    moved = load_params(project / "params.yaml", PROFILE, [f"data.cub200.download_dir={tmp_path / 'elsewhere'}",
                                                           f"data.cub200.archive={cub.archive}", "data.cub200.retries=9"])
    chosen = {"methods": {m: {"chosen": {"train.lr": 0.01, "train.mined_fraction": 0.4, "mining.kappa": 4.0,
                                         "controller.target_error": 0.5}} for m in cfg["methods"]}}
    for method in cfg["methods"]:
        assert cache_key(cfg, "cub200", method, chosen) == cache_key(moved, "cub200", method, chosen)
        assert str(downloads) not in json.dumps(cache_key(cfg, "cars196", method, chosen))
