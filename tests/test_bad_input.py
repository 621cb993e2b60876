"""Bad input to the data layer: corrupt or missing images, single-image classes, too few classes, bad paths.

Each case must end in a SmartMiningError (or a warning, where the data is usable) that names the
files or classes and says what is expected.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from smartmining.data import registry
from smartmining.data.images import LoadedSplit, load_images_checked
from smartmining.data.imagefolder import scan_imagefolder
from smartmining.data.manifest import (MANIFEST_COLUMNS, check_split_classes, drop_singleton_classes,
                                       missing_files, read_manifest)
from smartmining.errors import SmartMiningError

MD5 = "0" * 32


def _png(path: Path, seed: int) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def _manifest(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    """(path, label, split) rows; class names 'c<label>'."""
    return pd.DataFrame([(p, lab, f"c{lab}", split, MD5) for p, lab, split in rows], columns=list(MANIFEST_COLUMNS))


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Path, pd.DataFrame, dict[str, np.ndarray]]:
    """Six train images of three classes; two of them corrupt (bytes not an image, truncated PNG)."""
    pixels = {name: _png(tmp_path / name, seed) for seed, name in enumerate(["a0.png", "a1.png", "b0.png", "c0.png"])}
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    whole = (tmp_path / "a0.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    manifest = _manifest([("a0.png", 0, "train"), ("junk.png", 0, "train"), ("a1.png", 0, "train"),
                          ("b0.png", 1, "train"), ("cut.png", 1, "train"), ("c0.png", 2, "train")])
    return tmp_path, manifest, pixels


# --- corrupt and missing images --------------------------------------------------------------------


def test_corrupt_images_stop_loading_and_all_are_listed(damaged) -> None:
    root, manifest, _ = damaged
    with pytest.raises(SmartMiningError, match="2 unreadable image") as info:
        load_images_checked(manifest, root, "train", size=8, channels=1)
    message = str(info.value)
    assert "junk.png" in message and "cut.png" in message and "skip_bad=True" in message
    assert "a0.png" not in message


def test_skip_bad_leaves_corrupt_images_out_and_records_them(damaged) -> None:
    root, manifest, pixels = damaged
    with pytest.warns(UserWarning, match="skipping 2 of 6 images"):
        loaded = load_images_checked(manifest, root, "train", size=8, channels=1, skip_bad=True)
    assert isinstance(loaded, LoadedSplit)
    assert loaded.skipped == ["junk.png", "cut.png"]
    assert loaded.paths == ["a0.png", "a1.png", "b0.png", "c0.png"]
    assert loaded.labels.tolist() == [0, 0, 1, 2] and loaded.images.shape == (4, 1, 8, 8)
    for i, name in enumerate(loaded.paths):  # images, labels and paths stay aligned
        assert np.array_equal(loaded.images[i, 0].numpy(), pixels[name])


def test_skip_bad_keeps_images_labels_and_paths_aligned(damaged) -> None:
    root, manifest, _ = damaged
    with pytest.warns(UserWarning, match="skipping 2"):
        loaded = load_images_checked(manifest, root, "train", size=8, channels=1, skip_bad=True)
    assert len(loaded.images) == len(loaded.labels) == len(loaded.paths) == 4 and len(loaded.skipped) == 2


def test_skipping_that_leaves_one_class_is_an_error(damaged) -> None:
    root, manifest, _ = damaged
    only_a_survives = manifest.assign(label=[0, 0, 0, 1, 1, 1], class_name=["a"] * 3 + ["b"] * 3)
    (root / "b0.png").write_bytes(b"")
    (root / "c0.png").write_bytes(b"GIF89a")
    with pytest.warns(UserWarning), pytest.raises(SmartMiningError, match="1 class.*at least 2"):
        load_images_checked(only_a_survives, root, "train", size=8, channels=1, skip_bad=True)


def test_missing_files_are_listed_first_ten_and_counted(tmp_path: Path) -> None:
    _png(tmp_path / "here.png", 0)
    _png(tmp_path / "there.png", 1)
    rows = [("here.png", 0, "train"), ("there.png", 1, "train")]
    rows += [(f"gone/{i:02d}.png", i % 2, "train") for i in range(25)]
    manifest = _manifest(rows)
    assert missing_files(manifest, tmp_path) == [f"gone/{i:02d}.png" for i in range(25)]
    with pytest.raises(SmartMiningError, match="25 file") as info:
        load_images_checked(manifest, tmp_path, "train", size=8, channels=1)
    message = str(info.value)
    assert "missing" in message and str(tmp_path) in message
    assert "gone/09.png" in message and "gone/10.png" not in message
    assert "and 15 more" in message
    with pytest.warns(UserWarning, match="skipping 25 of 27"):
        loaded = load_images_checked(manifest, tmp_path, "train", size=8, channels=1, skip_bad=True)
    assert loaded.paths == ["here.png", "there.png"] and len(loaded.skipped) == 25


# --- single-image classes and too few classes --------------------------------------------------------


def test_drop_singleton_classes_against_loops() -> None:
    rows = [("a", 0, "train"), ("b", 1, "train"), ("c", 1, "train"), ("d", 2, "train"), ("e", 3, "test"),
            ("f", 3, "test"), ("g", 4, "test"), ("h", 5, "test"), ("i", 5, "test")]
    manifest = _manifest(rows)
    cleaned, excluded = drop_singleton_classes(manifest)
    counts: dict[int, int] = {}
    for _, label, _ in rows:
        counts[label] = counts.get(label, 0) + 1
    lone = [label for label in sorted(counts) if counts[label] == 1]
    kept_labels = [label for label in sorted(counts) if counts[label] > 1]
    assert excluded == [f"c{label}" for label in lone]
    expected = [(p, kept_labels.index(lab)) for p, lab, _ in rows if lab in kept_labels]
    assert list(zip(cleaned["path"], cleaned["label"])) == expected
    assert cleaned["class_name"].tolist() == [f"c{lab}" for p, lab, _ in rows if lab in kept_labels]
    same, none = drop_singleton_classes(cleaned)
    assert none == [] and same is cleaned


def test_check_split_classes_names_the_short_split() -> None:
    manifest = _manifest([("a", 0, "train"), ("b", 1, "train"), ("c", 2, "test"), ("d", 2, "test")])
    with pytest.raises(SmartMiningError, match=r"my data: each split needs at least 2 classes, got 1 in 'test'"):
        check_split_classes(manifest, "my data")
    with pytest.raises(SmartMiningError, match="0 in 'test'"):
        check_split_classes(manifest.iloc[:2], "my data")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Six class folders: ant, bee, cat (train), dog, eel, fly (test); 'cat' and 'eel' hold one image each."""
    source = tmp_path / "photos"
    sizes = {"ant": 2, "bee": 3, "cat": 1, "dog": 2, "eel": 1, "fly": 2}
    for c, (name, n) in enumerate(sizes.items()):
        for i in range(n):
            _png(source / name / f"{i}.png", 10 * c + i)
    return source


def test_single_image_classes_are_excluded_with_a_warning_and_recorded(photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with pytest.warns(UserWarning, match=r"excluded 2 class\(es\) with a single image.*\['cat', 'eel'\]"):
        path = registry.prepare_dataset("imagefolder", root, source=str(photos))
    manifest = read_manifest(path)
    assert sorted(set(manifest["class_name"])) == ["ant", "bee", "dog", "fly"]
    assert manifest.groupby("class_name")["label"].first().to_dict() == {"ant": 0, "bee": 1, "dog": 2, "fly": 3}
    record = json.loads((root / "dataset.json").read_text())
    assert record["excluded_singleton_classes"] == ["cat", "eel"]
    # The record's note does not make the next call prepare again (which would warn again).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registry.prepare_dataset("imagefolder", root, source=str(photos)) == path


def test_too_few_classes_left_after_exclusion_is_an_error(photos: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="single image"), pytest.raises(
            SmartMiningError, match=r"after excluding 1 single-image classes\): each split needs at least 2 "
                                    r"classes, got 1 in 'test'"):
        registry.prepare_dataset("imagefolder", tmp_path / "ds", source=str(photos),
                                 train_classes=["ant", "bee"], test_classes=["dog", "eel"])
    assert not (tmp_path / "ds" / "manifest.csv").exists()


def test_a_split_with_one_class_is_an_error(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match="got 1 in 'test'"):
        registry.prepare_dataset("imagefolder", tmp_path / "ds", source=str(photos),
                                 train_classes=["ant", "bee"], test_classes=["fly"])


# --- paths and options ----------------------------------------------------------------------------


def test_imagefolder_source_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "photos.zip").write_bytes(b"PK")
    with pytest.raises(SmartMiningError, match=r"photos.zip is a file; expected a folder"):
        scan_imagefolder(tmp_path / "photos.zip", tmp_path)
    with pytest.raises(SmartMiningError, match=r"does not exist; expected a folder"):
        scan_imagefolder(tmp_path / "nowhere", tmp_path)


def test_imagefolder_without_a_source_names_the_options(tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match=r"missing a required argument: 'source'.*accepted options: "
                                               r"\['source', 'train_classes', 'test_classes'\]"):
        registry.prepare_dataset("imagefolder", tmp_path / "ds")


def test_imagefolder_class_list_given_as_a_string(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match=r"test_classes must be a list of class folder names, got 'dog'"):
        scan_imagefolder(photos, tmp_path, test_classes="dog")


def test_data_folder_that_is_a_file(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(SmartMiningError, match=r"data folder .*data is a file"):
        registry.prepare_dataset("imagefolder", tmp_path / "data", source=str(photos))
