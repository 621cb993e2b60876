"""Manifest round trip and validation, split_classes, file_md5, and the dataset registry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from smartmining.data import registry
from smartmining.data.manifest import (MANIFEST_COLUMNS, file_md5, manifest_digest, read_manifest, split_classes,
                                       write_manifest)
from smartmining.errors import SmartMiningError

MD5 = "0" * 32


def _manifest() -> pd.DataFrame:
    rows = [("images/0/0.png", 0, "cat", "train", MD5), ("images/0/1.png", 0, "cat", "train", MD5),
            ("images/1/0.png", 1, "dog", "train", MD5), ("images/2/0.png", 2, "emu", "test", MD5),
            ("images/3/0.png", 3, "NA", "test", "0123456789abcdef0123456789abcdef")]
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def test_round_trip(tmp_path: Path) -> None:
    df = _manifest()
    write_manifest(df, tmp_path / "manifest.csv")
    back = read_manifest(tmp_path / "manifest.csv")
    pd.testing.assert_frame_equal(back, df)  # "NA" stays a class name, not a missing value
    assert back["label"].dtype == "int64"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.csv"]  # no temporary file left


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns="md5"), "missing column"),
        (lambda df: df.assign(split=["train", "train", "train", "valid", "test"]), r"\['valid'\]; expected values in "
                                                                                  r"\['source', 'train', 'val', 'test'\]"),
        (lambda df: df.assign(split=["train", "val", "train", "test", "source"]), "class-disjoint"),
        (lambda df: df.assign(split=["train", "test", "train", "test", "test"]), "disjoint"),
        (lambda df: df.assign(label=[0, 0, 1, 2, 5]), "contiguous"),
        (lambda df: df.assign(label=[0, 0, 1, 2, 2]), "exactly one class_name"),
        (lambda df: df.assign(md5=["xyz"] * 5), "md5"),
        (lambda df: df.assign(path=["a.png"] * 5), "duplicate paths"),
        (lambda df: df.assign(label=["0", "0", "x", "2", "3"]), "integers"),
        (lambda df: df.iloc[:0], "no rows"),
    ],
)
def test_validation_errors_name_the_file_and_problem(tmp_path: Path, change, message: str) -> None:
    target = tmp_path / "manifest.csv"
    with pytest.raises(SmartMiningError, match=message) as info:
        write_manifest(change(_manifest()), target)
    assert str(target) in str(info.value)
    assert not target.exists()
    # The same problem in a file on disk is caught by read_manifest.
    change(_manifest()).to_csv(target, index=False)
    with pytest.raises(SmartMiningError, match=message) as info:
        read_manifest(target)
    assert str(target) in str(info.value)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match="not found"):
        read_manifest(tmp_path / "nope.csv")


def test_split_classes_sorted_and_seeded() -> None:
    names = ["d", "b", "a", "c", "e"]
    assert split_classes(names, None) == (["a", "b"], ["c", "d", "e"])
    assert split_classes(["b", "a", "d", "c"], None) == (["a", "b"], ["c", "d"])
    train, test = split_classes(names, 7)
    assert (train, test) == split_classes(names, 7)
    assert not set(train) & set(test) and sorted(train + test) == sorted(names)
    assert len(train) == 2
    orders = {tuple(sum(split_classes(list("abcdefgh"), seed), [])) for seed in range(10)}
    assert len(orders) > 1  # the seed shuffles
    assert split_classes(list("abcdefghij"), None, train_fraction=0.3) == (list("abc"), list("defghij"))
    with pytest.raises(SmartMiningError, match="at least 2"):
        split_classes(["a"], None)
    with pytest.raises(SmartMiningError, match="duplicates"):
        split_classes(["a", "a"], None)


def test_file_md5(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    (tmp_path / "f").write_bytes(data)
    assert file_md5(tmp_path / "f") == hashlib.md5(data).hexdigest()


def toy_images(root: Path, classes: int = 4, per_class: int = 2) -> pd.DataFrame:
    """A manifest of tiny real PNGs written under root: classes c0.. with per_class images each."""
    rows = []
    for label in range(classes):
        for i in range(per_class):
            path = root / "images" / str(label) / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("L", (4, 4), 10 * label + i).save(path)
            rows.append((f"images/{label}/{i}.png", label, f"c{label}", "train" if label < classes // 2 else "test",
                         file_md5(path)))
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


@pytest.fixture
def counting_dataset(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """A registered toy dataset that records each call of its preparer."""
    calls: list[dict] = []

    def prepare(root: Path, *, size: int = 2) -> pd.DataFrame:
        calls.append({"size": size})
        return toy_images(root)

    monkeypatch.setitem(registry.DATASETS, "toy", prepare)
    monkeypatch.setitem(registry._VERSIONS, "toy", 1)
    return calls


def test_prepare_is_a_no_op_with_the_same_options(tmp_path: Path, counting_dataset: list[dict]) -> None:
    path = registry.prepare_dataset("toy", tmp_path)
    assert path == tmp_path / "manifest.csv"
    assert read_manifest(path)["class_name"].nunique() == 4
    record = json.loads((tmp_path / "dataset.json").read_text())
    assert record == {"dataset": "toy", "version": 1,
                      "options": {"size": 2, "val_classes": 0, "val_seed": 0, "skip_bad_images": False},
                      "fetched_with": {}, "manifest_sha256": manifest_digest(read_manifest(path))}
    registry.prepare_dataset("toy", tmp_path, size=2)  # the default spelled out: same options
    assert len(counting_dataset) == 1
    registry.prepare_dataset("toy", tmp_path, size=3)
    assert counting_dataset == [{"size": 2}, {"size": 3}]
    path.unlink()
    registry.prepare_dataset("toy", tmp_path, size=3)  # manifest gone: prepared again
    assert len(counting_dataset) == 3


def test_prepare_errors(tmp_path: Path, counting_dataset: list[dict]) -> None:
    with pytest.raises(SmartMiningError, match=r"unknown dataset 'nope'.*glyphs.*imagefolder"):
        registry.prepare_dataset("nope", tmp_path)
    with pytest.raises(SmartMiningError, match="bad options"):
        registry.prepare_dataset("toy", tmp_path, colour="red")
    assert counting_dataset == []


def test_registry_lists_builtin_datasets() -> None:
    assert {"glyphs", "imagefolder"} <= set(registry.available_datasets())
    with pytest.raises(SmartMiningError, match="twice"):
        registry.register_dataset("glyphs")(lambda root: _manifest())


def test_prepare_glyphs_end_to_end(tmp_path: Path) -> None:
    path = registry.prepare_dataset("glyphs", tmp_path, n_classes=4, images_per_class=3, image_size=24)
    manifest = read_manifest(path)
    assert len(manifest) == 12 and all((tmp_path / p).is_file() for p in manifest["path"])
    assert (tmp_path / "classes.csv").is_file()
