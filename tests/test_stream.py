"""The streaming data path: the same bytes, batches and results as the in-memory path, chosen above the budget."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from smartmining.config import apply_overrides
from smartmining.data.manifest import read_manifest
from smartmining.data.stream import ARRAY_DIR, DiskImages, disk_split
from smartmining.errors import SmartMiningError
from smartmining.settings import Settings
from smartmining.training.data import load_run_data


def test_disk_images_index_like_the_tensor(tmp_path: Path) -> None:
    x = torch.randint(0, 256, (23, 3, 5, 5), dtype=torch.uint8)
    (tmp_path / "a.u8").write_bytes(x.numpy().tobytes())
    d = DiskImages(tmp_path / "a.u8", tuple(x.shape))
    assert len(d) == 23 and d.shape == tuple(x.shape)
    for index in ([5, 1, 1, 22, 0, 6, 7, 8], np.array([3]), torch.tensor([9, 2, 10, 11]), [], [-1, -23]):
        torch.testing.assert_close(d[index], x[torch.as_tensor(index, dtype=torch.long)])
    torch.testing.assert_close(d[4:17], x[4:17])
    torch.testing.assert_close(d[20:40], x[20:40])
    torch.testing.assert_close(d[::5], x[::5])
    torch.testing.assert_close(d[7], x[7])
    with pytest.raises(IndexError):
        d[[23]]
    (tmp_path / "b.u8").write_bytes(b"\0" * 10)
    with pytest.raises(SmartMiningError, match="b.u8"):
        DiskImages(tmp_path / "b.u8", (2, 1, 2, 2))


def test_above_the_budget_the_splits_stream_with_the_same_images(smoke_profile: dict, smoke_data: Path,
                                                                  tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(smoke_data, data)
    memory = load_run_data(Settings.of(smoke_profile), "glyphs", data)
    streamed = load_run_data(Settings.of(apply_overrides(smoke_profile, ["train.max_memory_gb=0"])), "glyphs", data)
    assert not memory.notes["streaming"] and streamed.notes["streaming"]
    assert set(memory.splits) == set(streamed.splits)
    for name, split in memory.splits.items():
        disk = streamed.splits[name]
        assert isinstance(disk.images, DiskImages) and disk.paths == split.paths
        np.testing.assert_array_equal(disk.labels, split.labels)
        torch.testing.assert_close(disk.images[0:len(disk.images)], split.images)
    files = sorted((data / ARRAY_DIR).glob("*.u8"))
    assert len(files) == len(memory.splits)
    stamps = [f.stat().st_mtime_ns for f in files]
    load_run_data(Settings.of(apply_overrides(smoke_profile, ["train.max_memory_gb=0"])), "glyphs", data)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # built once, then reused


def test_a_missing_image_is_named_unless_skipped(smoke_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(smoke_data, data)
    manifest = read_manifest(data / "manifest.csv")
    victim = manifest[manifest["split"] == "test"]["path"].iloc[3]
    (data / victim).unlink()
    with pytest.raises(SmartMiningError, match=Path(victim).name):
        disk_split(manifest, data, "test", size=32, channels=1)
    with pytest.warns(UserWarning, match="skipping 1"):
        split = disk_split(manifest, data, "test", size=32, channels=1, skip_bad=True)
    assert split.skipped == [victim] and len(split.images) == len(split.labels) == (manifest["split"] == "test").sum() - 1


def test_a_streamed_run_trains_on_the_same_batches_as_an_in_memory_one(smoke_profile: dict, train_smoke,
                                                                        smoke_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(smoke_data, data)
    profile = apply_overrides(smoke_profile, ["train.epochs=2"])
    train_smoke(profile, tmp_path / "memory", data=data)
    train_smoke(apply_overrides(profile, ["train.max_memory_gb=0"]), tmp_path / "disk", data=data)
    a, b = pd.read_csv(tmp_path / "memory" / "epochs.csv"), pd.read_csv(tmp_path / "disk" / "epochs.csv")
    for column in ("loss", "train_error", "n_triplets", "image_passes", "random_fallbacks", "val_recall@1", "recall@1"):
        np.testing.assert_allclose(a[column].to_numpy(float), b[column].to_numpy(float), rtol=1e-6, err_msg=column)
    assert json.loads((tmp_path / "disk" / "provenance.json").read_text())["data"]["streaming"] is True
    assert json.loads((tmp_path / "memory" / "metrics.json").read_text()) == pytest.approx(
        json.loads((tmp_path / "disk" / "metrics.json").read_text()))
