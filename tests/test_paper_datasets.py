"""CUB-200-2011, Cars196 and SOP: the class splits at the paper's sizes, and each preparer end to end on
small archives with the real layouts, served over HTTP or given as local files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_paper import IMAGE_SIZE, Fixture, RangeServer, build_cars, build_cub, build_sop
from PIL import Image

import smartmining.data.cars196 as cars_
import smartmining.data.paper_datasets as pd_  # registers cub200 and sop
from smartmining.data.images import resolve_path
from smartmining.data.manifest import read_manifest
from smartmining.data.registry import prepare_dataset
from smartmining.errors import SmartMiningError

QUIET = {"progress": False, "retries": 2, "backoff": 0.0, "timeout": 5.0}


def _sizes(total: int, n_classes: int) -> list[int]:
    """n_classes per-class image counts that sum to total, as even as possible."""
    base, extra = divmod(total, n_classes)
    return [base + (i < extra) for i in range(n_classes)]


def _ids(first_id: int, sizes: list[int]) -> np.ndarray:
    return np.repeat(np.arange(first_id, first_id + len(sizes)), sizes)


def _oracle_labels(ids: list[int], splits: list[str]) -> list[int]:
    """Plain loops: number the train classes by id, then the test classes."""
    order = []
    for wanted in ("train", "test"):
        for cid in sorted(set(ids)):
            if any(i == cid and s == wanted for i, s in zip(ids, splits)) and cid not in order:
                order.append(cid)
    return [order.index(i) for i in ids]


# --- the split logic at the real class sizes -----------------------------------------------------------

@pytest.mark.parametrize(("dataset", "last_train"), [("cub200", 100), ("cars196", 98)])
def test_class_range_split_gives_the_paper_counts(dataset: str, last_train: int) -> None:
    paper = pd_.PAPER_COUNTS[dataset]
    ids = np.concatenate([_ids(1, _sizes(paper["train_images"], paper["train_classes"])),
                          _ids(paper["train_classes"] + 1, _sizes(paper["test_images"], paper["test_classes"]))])
    rng = np.random.default_rng(0)
    ids = ids[rng.permutation(ids.size)]  # the order of the image list must not matter
    splits = pd_.split_by_class_id(ids, last_train)
    counts = pd_.count_summary(ids, splits)
    assert counts == paper
    pd_.check_counts(counts, pd_.resolve_expected(None, dataset), dataset)
    assert set(splits[ids == last_train]) == {"train"} and set(splits[ids == last_train + 1]) == {"test"}
    labels = pd_.contiguous_labels(ids, splits)
    assert sorted(set(labels)) == list(range(paper["classes"]))
    assert labels[splits == "train"].max() < labels[splits == "test"].min()
    assert np.array_equal(labels, ids - 1)  # ids 1..C in split order: label = id - 1


def test_sop_split_from_its_lists_gives_the_paper_counts(tmp_path: Path) -> None:
    paper = pd_.PAPER_COUNTS["sop"]
    folder = tmp_path / "Stanford_Online_Products"
    folder.mkdir()
    first_test = paper["train_classes"] + 1
    for split, first, images, classes in (("train", 1, paper["train_images"], paper["train_classes"]),
                                          ("test", first_test, paper["test_images"], paper["test_classes"])):
        ids = _ids(first, _sizes(images, classes))
        lines = ["image_id class_id super_class_id path"]
        lines += [f"{k + 1} {c} 1 bicycle_final/{c}_{k}.JPG" for k, c in enumerate(ids)]
        (folder / f"Ebay_{split}.txt").write_text("\n".join(lines) + "\n")
    table = pd_.read_sop(folder)
    counts = pd_.count_summary(table["class_id"], table["split"])
    assert counts == paper
    pd_.check_counts(counts, pd_.resolve_expected(None, "sop"), "sop")


def test_contiguous_labels_match_a_loop_oracle() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        classes = rng.choice(np.arange(1, 40), size=int(rng.integers(2, 10)), replace=False)
        split_of = {int(c): ("train", "test")[int(rng.integers(0, 2))] for c in classes}
        ids = rng.choice(classes, size=30).tolist()
        splits = [split_of[i] for i in ids]
        assert pd_.contiguous_labels(ids, splits).tolist() == _oracle_labels(ids, splits)


def test_a_class_in_both_splits_is_refused() -> None:
    with pytest.raises(SmartMiningError, match=r"class id\(s\) \[7\] appear in both"):
        pd_.contiguous_labels([7, 7, 8], ["train", "test", "test"])


def test_count_mismatch_lists_every_difference() -> None:
    counts = dict(pd_.PAPER_COUNTS["cub200"], images=11_787, train_images=5_863)
    with pytest.raises(SmartMiningError) as err:
        pd_.check_counts(counts, pd_.resolve_expected(None, "cub200"), "cub200")
    message = str(err.value)
    assert "images: found 11,787, expected 11,788" in message
    assert "train images: found 5,863, expected 5,864" in message
    assert "test images" not in message
    pd_.check_counts(counts, {}, "cub200")  # nothing expected: nothing checked


def test_bad_expected_counts_are_named() -> None:
    with pytest.raises(SmartMiningError, match=r"unknown key\(s\) \['pictures'\]"):
        pd_.resolve_expected({"pictures": 3}, "sop")
    with pytest.raises(SmartMiningError, match="non-negative integers"):
        pd_.resolve_expected({"images": -1}, "sop")


# --- end to end on fixture archives ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fixture]:
    folder = tmp_path_factory.mktemp("paper-archives")
    return {"cub200": build_cub(folder), "cars196": build_cars(folder), "sop": build_sop(folder)}


def _check_manifest(root: Path, fx: Fixture, train_ids: set[int]) -> None:
    manifest = read_manifest(root / "manifest.csv")
    expected_names = {name: ("train" if cid in train_ids else "test") for cid, name in fx.class_names.items()}
    assert len(manifest) == sum(fx.images_per_class.values())
    assert dict(zip(manifest["class_name"], manifest["split"])) == expected_names
    assert sorted(manifest["label"].unique()) == list(range(len(fx.class_names)))
    train_labels = manifest.loc[manifest["split"] == "train", "label"]
    assert train_labels.max() < manifest.loc[manifest["split"] == "test", "label"].min()
    assert set(manifest["md5"]) == {fx.md5}  # the archive's md5, the same in every row
    for path in manifest["path"]:
        assert resolve_path(root, path).is_file()


def test_cub_over_http_resumes_splits_and_is_cached(tmp_path: Path, fixtures: dict[str, Fixture],
                                                    _private_download_folder: Path) -> None:
    fx = fixtures["cub200"]
    root = tmp_path / "cub"
    options = dict(QUIET, md5=fx.md5, expected=fx.counts({1, 2}))
    with RangeServer({"CUB_200_2011.tgz": fx.archive.read_bytes()}, drop_first={"CUB_200_2011.tgz"}) as server:
        options["urls"] = [server.url("CUB_200_2011.tgz")]
        prepare_dataset("cub200", root, **options)
        assert [r[1] is not None for r in server.requests] == [False, True]  # dropped, then resumed
        prepare_dataset("cub200", root, **options)  # same options: nothing downloaded again
        assert len(server.requests) == 2
    _check_manifest(root, fx, {1, 2})
    manifest = read_manifest(root / "manifest.csv")
    assert manifest["path"].str.startswith("extracted/CUB_200_2011/images/").all()
    assert sorted(set(manifest["class_name"])) == ["001.Bird_1", "002.Bird_2", "101.Bird_101", "102.Bird_102"]
    assert sorted(p.name for p in _private_download_folder.iterdir()) == ["CUB_200_2011.tgz"]
    assert not (root / "downloads").exists()


def test_cub_crops_bounding_boxes(tmp_path: Path, fixtures: dict[str, Fixture]) -> None:
    fx = fixtures["cub200"]
    root = tmp_path / "cub"
    old = os.umask(0o022)
    try:
        manifest = pd_.cub200(root, archive=str(fx.archive), md5=fx.md5, crop_boxes=True,
                              expected=fx.counts({1, 2}), **QUIET)
    finally:
        os.umask(old)
    for folder in ("extracted", "cropped"):
        assert (root / folder).stat().st_mode & 0o777 == 0o755, folder  # not the 700 of a temporary folder
    assert manifest["path"].str.startswith("cropped/images/").all()
    for path in manifest["path"]:
        left, top, right, bottom = fx.boxes[path.removeprefix("cropped/")]
        with Image.open(root / path) as image:
            assert image.size == (right - left, bottom - top)


def test_cub_with_the_paper_counts_refuses_a_small_copy(tmp_path: Path, fixtures: dict[str, Fixture]) -> None:
    fx = fixtures["cub200"]
    with pytest.raises(SmartMiningError, match=r"cub200: .*\n  images: found 8, expected 11,788"):
        prepare_dataset("cub200", tmp_path / "cub", archive=str(fx.archive), md5=fx.md5, **QUIET)
    assert not (tmp_path / "cub" / "manifest.csv").exists()


def test_corrupted_archive_download_leaves_nothing_that_passes(tmp_path: Path, fixtures: dict[str, Fixture],
                                                               _private_download_folder: Path) -> None:
    fx = fixtures["cub200"]
    data = bytearray(fx.archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    root = tmp_path / "cub"
    with RangeServer({"CUB_200_2011.tgz": bytes(data)}) as server:
        with pytest.raises(SmartMiningError) as err:
            prepare_dataset("cub200", root, urls=[server.url("CUB_200_2011.tgz")], md5=fx.md5,
                            expected=fx.counts({1, 2}), **QUIET)
    assert f"expected {fx.md5}, got " in str(err.value) and "archive=PATH" in str(err.value)
    assert sorted(p.name for p in root.rglob("*")) == []  # no extraction or manifest
    assert not _private_download_folder.exists()  # no archive, no part file, no empty download folder


def test_cars_over_http_after_a_404_mirror(tmp_path: Path, fixtures: dict[str, Fixture]) -> None:
    fx = fixtures["cars196"]
    files = {"mirror2/car_ims.tgz": fx.archive.read_bytes(), "mirror2/cars_annos.mat": fx.annotations.read_bytes()}
    root = tmp_path / "cars"
    with RangeServer(files) as server:
        prepare_dataset("cars196", root, urls=[server.url("mirror1/car_ims.tgz"), server.url("mirror2/car_ims.tgz")],
                        md5=fx.md5, annotations_urls=[server.url("mirror2/cars_annos.mat")],
                        annotations_md5=fx.annotations_md5, expected=fx.counts({97, 98}), **QUIET)
    assert [p for p, _ in server.requests] == ["/mirror1/car_ims.tgz", "/mirror2/car_ims.tgz",
                                              "/mirror2/cars_annos.mat"]
    _check_manifest(root, fx, {97, 98})  # labels from `class`: its mixed `test` flags are ignored


def test_cars_crops_with_matlab_boxes_from_an_extracted_folder(tmp_path: Path, fixtures: dict[str, Fixture]) -> None:
    fx = fixtures["cars196"]
    import shutil
    import tarfile

    folder = tmp_path / "my_cars"
    with tarfile.open(fx.archive) as tar:
        tar.extractall(folder, filter="data")
    shutil.copy(fx.annotations, folder / "cars_annos.mat")
    root = tmp_path / "cars"
    manifest = cars_.cars196(root, extracted=str(folder), annotations_md5=fx.annotations_md5, crop_boxes=True,
                           expected=fx.counts({97, 98}), **QUIET)
    for path in manifest["path"]:
        left, top, right, bottom = fx.boxes[path.removeprefix("cropped/")]
        with Image.open(root / path) as image:
            assert image.size == (right - left, bottom - top)
            assert image.size != IMAGE_SIZE


def test_sop_from_a_local_archive_and_from_an_extracted_folder(tmp_path: Path, fixtures: dict[str, Fixture]) -> None:
    fx = fixtures["sop"]
    counts = fx.counts({1, 2, 3})
    prepare_dataset("sop", tmp_path / "a", archive=str(fx.archive), md5=fx.md5, expected=counts, **QUIET)
    _check_manifest(tmp_path / "a", fx, {1, 2, 3})
    # The folder we just extracted, used in place by a second dataset root: absolute paths.
    extracted = tmp_path / "a" / "extracted"
    manifest = pd_.sop(tmp_path / "b", extracted=str(extracted), expected=counts, **QUIET)
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in manifest["path"])
    assert not (tmp_path / "b" / "extracted").exists()


def test_wrong_checksum_for_a_local_archive_and_verify_false(tmp_path: Path, fixtures: dict[str, Fixture]) -> None:
    fx = fixtures["sop"]
    with pytest.raises(SmartMiningError, match=f"archive=.*md5 mismatch: expected {'a' * 32}, got {fx.md5}"):
        pd_.sop(tmp_path / "sop", archive=str(fx.archive), md5="a" * 32, expected={}, **QUIET)
    assert not (tmp_path / "sop" / "extracted").exists()
    manifest = pd_.sop(tmp_path / "sop", archive=str(fx.archive), md5="a" * 32, verify=False, expected={}, **QUIET)
    assert len(manifest) == sum(fx.images_per_class.values())


@pytest.mark.parametrize(("options", "message"), [
    ({"archive": "/nowhere/CUB_200_2011.tgz"}, "archive=/nowhere/CUB_200_2011.tgz: file not found"),
    ({"archive": "/nowhere/x.tgz", "verify": False}, "archive=/nowhere/x.tgz: file not found"),
    ({"extracted": "/nowhere"}, "extracted=/nowhere: folder not found"),
    ({"archive": "a.tgz", "extracted": "b"}, "either archive=PATH or extracted=PATH"),
    ({"md5": "not-an-md5"}, "md5 must be an md5 of 32 hex digits"),
    ({"urls": [""]}, "urls must be a list of URLs"),
])
def test_bad_options_are_named(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(SmartMiningError, match=message.replace("(", r"\(")):
        pd_.cub200(tmp_path / "cub", **options, **QUIET)


def test_extracted_folder_with_another_layout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    with pytest.raises(SmartMiningError, match="found no Ebay_train.txt"):
        pd_.sop(tmp_path / "sop", extracted=str(tmp_path / "photos"), **QUIET)


def test_missing_images_are_listed(tmp_path: Path, fixtures: dict[str, Fixture]) -> None:
    fx = fixtures["sop"]
    root = tmp_path / "sop"
    pd_.sop(root, archive=str(fx.archive), md5=fx.md5, expected={}, **QUIET)
    victim = next((root / "extracted" / "Stanford_Online_Products" / "chair_final").iterdir())
    victim.unlink()
    with pytest.raises(SmartMiningError, match=r"1 listed image\(s\) missing .*" + victim.name):
        pd_.sop(root, extracted=str(root / "extracted"), expected={}, **QUIET)


def test_archive_in_the_download_folder_is_used_without_a_download(tmp_path: Path, fixtures: dict[str, Fixture],
                                                                   _private_download_folder: Path) -> None:
    fx = fixtures["cub200"]
    _private_download_folder.mkdir(parents=True)
    shutil.copy(fx.archive, _private_download_folder / "CUB_200_2011.tgz")
    with RangeServer({}) as server:
        prepare_dataset("cub200", tmp_path / "cub", urls=[server.url("CUB_200_2011.tgz")], md5=fx.md5,
                        expected=fx.counts({1, 2}), **QUIET)
    assert server.requests == []
    _check_manifest(tmp_path / "cub", fx, {1, 2})
    # The download_dir option names another folder; a file there of the right name but other bytes is refused.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "CUB_200_2011.tgz").write_bytes(b"not the archive")
    with pytest.raises(SmartMiningError) as err:
        pd_.cub200(tmp_path / "cub2", md5=fx.md5, download_dir=str(mine), expected={}, **QUIET)
    assert str(mine / "CUB_200_2011.tgz") in str(err.value) and f"expected {fx.md5}" in str(err.value)
