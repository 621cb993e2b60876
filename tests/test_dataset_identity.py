"""A prepared dataset is identified by its identity options and its manifest's content, never by how its files
arrived: a local archive, URLs, checksums, the download folder, retries or progress (issue 23.2 and 23.3)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import PARAMS
from fixtures_paper import Fixture, build_cub

from smartmining.cli import main
from smartmining.config import load_params
from smartmining.data.manifest import read_manifest
from smartmining.data.registry import check_prepared, prepare_dataset
from smartmining.errors import SmartMiningError
from smartmining.fingerprint import digest
from smartmining.runs import cache_key, dataset_options, prepare_options
from smartmining.settings import Settings
from smartmining.training.data import load_run_data

QUIET = {"progress": False, "retries": 1, "backoff": 0.0, "timeout": 5.0}
FETCH = ["data.cub200.archive=/somewhere/CUB_200_2011.tgz", "data.cub200.retries=9", "data.cub200.progress=false",
         "data.cub200.timeout=5", "data.cub200.urls=[http://example.org/cub.tgz]", "data.cub200.download_dir=/dl",
         "data.cub200.md5=" + "a" * 32, "data.cub200.verify=false"]


@pytest.fixture(scope="module")
def cub(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return build_cub(tmp_path_factory.mktemp("cub"))


def _prepare(cub: Fixture, root: Path, archive: str | None = None, **options: object) -> Path:
    return prepare_dataset("cub200", root, archive=archive or str(cub.archive), md5=cub.md5,
                           expected=cub.counts({1, 2}), **{**QUIET, **options})


def test_fetch_options_are_recorded_but_identify_nothing(tmp_path: Path, cub: Fixture) -> None:
    root = tmp_path / "cub"
    manifest = _prepare(cub, root)
    record = json.loads((root / "dataset.json").read_text())
    assert "archive" not in record["options"] and record["fetched_with"]["archive"] == str(cub.archive)
    assert record["options"]["crop_boxes"] is False
    # Training names none of the fetch options, or others: the folder is what it needs.
    assert check_prepared("cub200", root) == manifest
    assert check_prepared("cub200", root, urls=["http://x/y"], retries=7, progress=True, download_dir="/dl") == manifest
    # The same archive spelled another way: a no-op, not a second preparation.
    before = manifest.stat().st_mtime_ns
    _prepare(cub, root, archive=str(cub.archive.parent / "." / cub.archive.name), timeout=9.0)
    assert manifest.stat().st_mtime_ns == before
    # What changes the images or splits still counts.
    with pytest.raises(SmartMiningError, match=r"crop_boxes: prepared False vs needed True"):
        check_prepared("cub200", root, crop_boxes=True)
    with pytest.raises(SmartMiningError, match=r"val_classes: prepared 0 vs needed 2"):
        check_prepared("cub200", root, val_classes=2)


def test_a_manifest_changed_after_preparing_is_caught_and_prepared_again(tmp_path: Path, cub: Fixture) -> None:
    root = tmp_path / "cub"
    manifest_path = _prepare(cub, root)
    original = manifest_path.read_text()
    table = pd.read_csv(manifest_path)
    table.loc[0, "md5"] = "0" * 32
    table.to_csv(manifest_path, index=False)
    with pytest.raises(SmartMiningError, match="manifest.csv was changed since it was prepared"):
        check_prepared("cub200", root)
    _prepare(cub, root)
    assert manifest_path.read_text() == original
    assert check_prepared("cub200", root) == manifest_path


def test_fetch_options_are_in_no_cache_key() -> None:
    cfg = load_params(PARAMS, "paper")
    fetched = load_params(PARAMS, "paper", FETCH)
    assert prepare_options(fetched, "cub200")["archive"] == "/somewhere/CUB_200_2011.tgz"  # prepare still gets it
    assert dataset_options(fetched, "cub200") == dataset_options(cfg, "cub200") == {"val_classes": 20,
                                                                                     "skip_bad_images": False}
    for method in ("random+global", "smart+global+adaptive", "sweep-kappa-4"):
        assert digest(cache_key(fetched, "cub200", method)) == digest(cache_key(cfg, "cub200", method))
    cropped = load_params(PARAMS, "paper", ["data.cub200.crop_boxes=true"])
    assert dataset_options(cropped, "cub200") != dataset_options(cfg, "cub200")
    assert digest(cache_key(cropped, "cub200", "smart")) != digest(cache_key(cfg, "cub200", "smart"))


def test_prepared_from_a_local_archive_then_trained_as_the_profile_says(tmp_path: Path, cub: Fixture) -> None:
    root = tmp_path / "data" / "cub200"
    profile = ["data.cub200.val_classes=0"]  # the fixture has 4 classes: none to spare for validation
    args = ["prepare", "--config", str(PARAMS), "--profile", "paper", "--dataset", "cub200", "--out", str(root),
            "--set", profile[0], "--option", f"archive={cub.archive}", "--option", f"md5={cub.md5}",
            "--option", "expected=" + json.dumps(cub.counts({1, 2})), "--option", "progress=false"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    settings = Settings.of(load_params(PARAMS, "paper", profile))
    data = load_run_data(settings, "cub200", root, purpose="baseline")  # what training reads, as it checks it
    assert len(data.split("test").labels) == len(read_manifest(root / "manifest.csv").query("split == 'test'"))
