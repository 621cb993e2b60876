"""Four splits: validation classes carved at prepare, optional splits, check_prepared, image checks at prepare."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from smartmining.data import registry
from smartmining.data.manifest import (MANIFEST_COLUMNS, check_split_classes, file_md5, read_manifest,
                                       validate_manifest)
from smartmining.data.splits import carve_val_classes
from smartmining.errors import SmartMiningError

MD5 = "0" * 32


def _manifest(splits: list[str], per_class: int = 2) -> pd.DataFrame:
    """One class per entry of ``splits`` (label = position), ``per_class`` rows each."""
    rows = [(f"{label}/{i}.png", label, f"c{label}", split, MD5)
            for label, split in enumerate(splits) for i in range(per_class)]
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def test_four_splits_validate_and_optional_ones_may_be_absent() -> None:
    manifest = validate_manifest(_manifest(["source", "source", "train", "train", "val", "val", "test", "test"]))
    check_split_classes(manifest, "m")
    check_split_classes(_manifest(["train", "train", "test", "test"]), "m")  # no source, no val: fine
    with pytest.raises(SmartMiningError, match=r"got 1 in 'val'"):
        check_split_classes(_manifest(["train", "train", "val", "test", "test"]), "m")
    with pytest.raises(SmartMiningError, match=r"got 1 in 'source'"):
        check_split_classes(_manifest(["source", "train", "train", "test", "test"]), "m")
    with pytest.raises(SmartMiningError, match=r"0 in 'test'"):
        check_split_classes(_manifest(["train", "train", "val", "val"]), "m")
    shared = _manifest(["train", "train", "test"]).assign(split=["train", "train", "train", "val", "test", "test"])
    with pytest.raises(SmartMiningError, match=r"class-disjoint; labels in more than one split: \[1\]"):
        validate_manifest(shared)


def test_carve_moves_seeded_training_classes_and_keeps_everything_else() -> None:
    manifest = _manifest(["source"] * 3 + ["train"] * 10 + ["test"] * 4, per_class=3)
    carved = carve_val_classes(manifest, 4, val_seed=1)
    val = sorted(set(carved.loc[carved["split"] == "val", "label"]))
    assert len(val) == 4 and set(val) <= set(range(3, 13))  # only training classes move
    assert carved.groupby("label")["split"].nunique().max() == 1  # whole classes move
    changed = carved["split"] != manifest["split"]
    assert set(manifest.loc[changed, "split"]) == {"train"} and set(carved.loc[changed, "split"]) == {"val"}
    pd.testing.assert_frame_equal(carved.drop(columns="split"), manifest.drop(columns="split"))
    pd.testing.assert_frame_equal(carve_val_classes(manifest, 4, val_seed=1), carved)  # deterministic
    choices = {tuple(sorted(set(carve_val_classes(manifest, 4, s).query("split == 'val'")["label"])))
               for s in range(8)}
    assert len(choices) > 1  # the seed chooses
    pd.testing.assert_frame_equal(carve_val_classes(manifest, 0), manifest)
    assert len(set(carve_val_classes(manifest, 8).query("split == 'train'")["label"])) == 2


@pytest.mark.parametrize(("val_classes", "message"), [
    (9, r"val_classes=9 would leave 1 of the 10 training classes"),
    (-1, "val_classes must be an integer >= 0"),
    (True, "val_classes must be an integer"),
    (1, "val_classes must be 0 or at least 2"),
])
def test_carve_errors_name_the_option(val_classes: int, message: str) -> None:
    with pytest.raises(SmartMiningError, match=message):
        carve_val_classes(_manifest(["train"] * 10 + ["test"] * 2), val_classes)


# --- through prepare_dataset -------------------------------------------------------------------------

def _photos(source: Path, classes: int = 8, per_class: int = 2) -> Path:
    for c in range(classes):
        for i in range(per_class):
            path = source / f"k{c}" / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((6, 5), 20 * c + i, dtype=np.uint8)).save(path)
    return source


def _folder_bytes(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_records_val_classes_and_reprepares_on_change(tmp_path: Path) -> None:
    photos, root = _photos(tmp_path / "photos"), tmp_path / "ds"
    path = registry.prepare_dataset("imagefolder", root, source=str(photos), val_classes=2, val_seed=3)
    manifest = read_manifest(path)
    per_split = manifest.groupby("split")["class_name"].nunique().to_dict()
    assert per_split == {"train": 2, "val": 2, "test": 4}
    assert set(manifest.loc[manifest["split"] == "val", "class_name"]) <= {"k0", "k1", "k2", "k3"}
    record = json.loads((root / "dataset.json").read_text())
    assert record["options"]["val_classes"] == 2 and record["options"]["val_seed"] == 3
    first = set(manifest.loc[manifest["split"] == "val", "class_name"])
    seeds = {frozenset(read_manifest(registry.prepare_dataset("imagefolder", root, source=str(photos), val_classes=2,
                                                              val_seed=s)).query("split == 'val'")["class_name"])
             for s in range(6)}
    assert frozenset(first) in seeds and len(seeds) > 1  # a new val_seed prepares again
    with pytest.raises(SmartMiningError, match=r"val_classes=3 would leave 1 of the 4 training classes"):
        registry.prepare_dataset("imagefolder", root, source=str(photos), val_classes=3)
    with pytest.raises(SmartMiningError, match=r"option val_seed must be an integer"):
        registry.prepare_dataset("imagefolder", root, source=str(photos), val_seed="x")


def test_check_prepared_never_writes_and_names_what_differs(tmp_path: Path) -> None:
    photos, root = _photos(tmp_path / "photos"), tmp_path / "ds"
    options = {"source": str(photos), "val_classes": 2}
    path = registry.prepare_dataset("imagefolder", root, **options)
    before = _folder_bytes(root)
    assert registry.check_prepared("imagefolder", root, **options) == path
    assert registry.check_prepared("imagefolder", root, **options, val_seed=0) == path  # a default spelled out
    with pytest.raises(SmartMiningError) as info:
        registry.check_prepared("imagefolder", root, **{**options, "val_classes": 1}, test_classes=["k7", "k6"])
    message = str(info.value)
    assert "val_classes: prepared 2 vs needed 1" in message
    assert "test_classes: prepared None vs needed ['k7', 'k6']" in message
    assert (f"smartmining prepare --dataset imagefolder --out {root} --no-config --option source={photos} "
            f"--option val_classes=1 --option 'test_classes=[\"k7\", \"k6\"]'") in message
    assert "pipeline's prepare rule" in message
    assert _folder_bytes(root) == before  # nothing written, nothing touched
    with pytest.raises(SmartMiningError, match=r"is not prepared \(no readable folder\).*smartmining prepare"):
        registry.check_prepared("imagefolder", tmp_path / "nowhere", **options)
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(SmartMiningError, match="unknown dataset"):
        registry.check_prepared("nope", root)


def test_prepare_stops_on_bad_images_or_leaves_them_out(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", classes=4, per_class=3)
    good = (photos / "k0" / "0.png").read_bytes()
    (photos / "k0" / "1.png").write_bytes(good[: len(good) // 2])  # truncated
    (photos / "k2" / "2.png").write_bytes(b"not an image")
    root = tmp_path / "ds"
    with pytest.raises(SmartMiningError) as info:
        registry.prepare_dataset("imagefolder", root, source=str(photos))
    message = str(info.value)
    assert "2 unreadable image(s)" in message and "skip_bad_images" in message
    assert str(photos / "k0" / "1.png") in message and str(photos / "k2" / "2.png") in message
    assert str(photos / "k0" / "0.png") not in message
    assert not (root / "manifest.csv").exists()
    with pytest.warns(UserWarning, match="leaving out 2 of 12 images"):
        path = registry.prepare_dataset("imagefolder", root, source=str(photos), skip_bad_images=True)
    manifest = read_manifest(path)
    assert len(manifest) == 10 and manifest.groupby("class_name").size().to_dict() == {"k0": 2, "k1": 3, "k2": 2,
                                                                                          "k3": 3}
    record = json.loads((root / "dataset.json").read_text())
    assert record["skipped_bad_images"]["count"] == 2
    assert sorted(Path(p).name for p in record["skipped_bad_images"]["paths"]) == ["1.png", "2.png"]
    assert all(file_md5(p) == m for p, m in zip(manifest["path"], manifest["md5"]))


def test_glyph_source_classes_through_prepare(tmp_path: Path) -> None:
    root = tmp_path / "g"
    path = registry.prepare_dataset("glyphs", root, n_classes=8, images_per_class=3, image_size=20,
                                    source_classes=4, source_images_per_class=2, val_classes=2)
    manifest = read_manifest(path)
    counts = manifest.groupby("split")["label"].agg(["nunique", "size"]).to_dict("index")
    assert counts == {"source": {"nunique": 4, "size": 8}, "train": {"nunique": 2, "size": 6},
                      "val": {"nunique": 2, "size": 6}, "test": {"nunique": 4, "size": 12}}
    assert set(manifest.loc[manifest["split"] == "source", "label"]) == set(range(8, 12))
    assert set(manifest.loc[manifest["split"].isin(["train", "val"]), "label"]) == set(range(4))
    assert all(hashlib.md5((root / p).read_bytes()).hexdigest() == m for p, m in zip(manifest["path"], manifest["md5"]))
