"""A user's image folder as a dataset: formats, splits, paths and every error case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartmining.data import registry
from smartmining.data.imagefolder import scan_imagefolder
from smartmining.data.manifest import file_md5, read_manifest, validate_manifest
from smartmining.errors import SmartMiningError


def _save(path: Path, mode: str = "RGB", size: tuple[int, int] = (20, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(len(str(path))).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    source = tmp_path / "photos"
    _save(source / "cat" / "gray.png", "L")
    _save(source / "cat" / "photo.jpg")
    _save(source / "dog" / "a.bmp")
    _save(source / "dog" / "deeper" / "b.JPEG")
    _save(source / "emu" / "c.gif", "P")
    _save(source / "emu" / "d.tif")
    _save(source / "fox" / "e.webp")
    _save(source / "fox" / ".hidden.png")  # hidden: ignored
    (source / "fox" / "notes.txt").write_text("not an image")
    (source / "fox" / "Thumbs.db").write_bytes(b"\0")
    _save(source / ".cache" / "x.png")  # hidden folder: not a class
    return source


def test_default_split_is_sorted_halves(tree: Path, tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    df = validate_manifest(scan_imagefolder(tree, root))
    assert df.groupby("class_name")["split"].first().to_dict() == {
        "cat": "train", "dog": "train", "emu": "test", "fox": "test"}
    assert df.groupby("class_name")["label"].first().to_dict() == {"cat": 0, "dog": 1, "emu": 2, "fox": 3}
    names = sorted(Path(p).name for p in df["path"])
    assert names == ["a.bmp", "b.JPEG", "c.gif", "d.tif", "e.webp", "gray.png", "photo.jpg"]
    # Images outside the dataset root are recorded with absolute paths, and the md5 is the file's.
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in df["path"])
    assert all(file_md5(p) == m for p, m in zip(df["path"], df["md5"]))


def test_paths_are_relative_when_images_lie_under_root(tree: Path) -> None:
    df = scan_imagefolder(tree, tree.parent)
    assert all(p.startswith("photos/") for p in df["path"])
    assert (tree.parent / df["path"].iloc[0]).is_file()


def test_explicit_lists(tree: Path, tmp_path: Path) -> None:
    df = scan_imagefolder(tree, tmp_path, train_classes=["fox", "cat"], test_classes=["dog"])
    assert df.groupby("class_name")["label"].first().to_dict() == {"fox": 0, "cat": 1, "dog": 2}
    assert set(df.loc[df["split"] == "test", "class_name"]) == {"dog"}
    assert "emu" not in set(df["class_name"])  # in neither list: left out
    only_test = scan_imagefolder(tree, tmp_path, test_classes=["cat"])
    assert set(only_test.loc[only_test["split"] == "train", "class_name"]) == {"dog", "emu", "fox"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"train_classes": ["cat", "dog"], "test_classes": ["dog", "emu"]}, r"\['dog'\] are in both"),
        ({"train_classes": ["cat", "lion"]}, r"\['lion'\] that have no folder"),
        ({"test_classes": ["cat", "dog", "emu", "fox"]}, "train split has no classes"),
    ],
)
def test_list_errors(tree: Path, tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(SmartMiningError, match=message):
        scan_imagefolder(tree, tmp_path, **options)


def test_folder_errors(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match="does not exist"):
        scan_imagefolder(tmp_path / "missing", tmp_path)
    lonely = tmp_path / "lonely"
    _save(lonely / "only" / "a.png")
    with pytest.raises(SmartMiningError, match="at least two class"):
        scan_imagefolder(lonely, tmp_path)
    (tree / "gnu").mkdir()
    (tree / "yak").mkdir()
    (tree / "yak" / "readme.txt").write_text("no images here")
    with pytest.raises(SmartMiningError, match=r"\['gnu', 'yak'\]"):
        scan_imagefolder(tree, tmp_path)


def test_prepare_imagefolder_writes_a_manifest(tree: Path, tmp_path: Path) -> None:
    _save(tree / "fox" / "f.png")  # fox had a single image, which preparation would exclude
    path = registry.prepare_dataset("imagefolder", tmp_path / "ds", source=str(tree))
    assert read_manifest(path)["class_name"].nunique() == 4
