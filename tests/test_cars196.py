"""Cars196 from the copies people have: the official car_ims.tgz + cars_annos.mat, an extracted car_ims/, and the
devkit layout of Kaggle's copies (folders, .tgz parts, one zip), found in the download folder or given by option;
each checked by checksum or by the counts, and all giving the paper's class split."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from fixtures_paper import Fixture, build_cars, build_cars_devkit, md5_of
from PIL import Image

from smartmining.data.cars196 import cars196
from smartmining.data.manifest import file_md5, read_manifest
from smartmining.data.registry import prepare_dataset
from smartmining.data.images import resolve_path
from smartmining.errors import SmartMiningError

QUIET = {"progress": False, "retries": 1, "backoff": 0.0, "timeout": 5.0}
TRAIN = {97, 98}


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return build_cars(tmp_path_factory.mktemp("cars-official"))


@pytest.fixture(scope="module")
def devkit(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return build_cars_devkit(tmp_path_factory.mktemp("cars-devkit"))


def _classes(root: Path, fx: Fixture) -> None:
    """The paper's split by class id, every path an image, labels train-first."""
    manifest = read_manifest(root / "manifest.csv")
    expected = {name: "train" if cid in TRAIN else "test" for cid, name in fx.class_names.items()}
    assert dict(zip(manifest["class_name"], manifest["split"])) == expected
    assert len(manifest) == sum(fx.images_per_class.values())
    assert all(resolve_path(root, p).is_file() for p in manifest["path"])


def _devkit_md5s(root: Path) -> None:
    """The devkit layout's md5 column: each image's own."""
    manifest = read_manifest(root / "manifest.csv")
    assert [file_md5(resolve_path(root, p)) for p in manifest["path"]] == manifest["md5"].tolist()


def _tgz(path: Path, source: Path, arcname: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(source, arcname=arcname)
    return path


def test_official_archive_and_annotations_in_the_download_folder(tmp_path: Path, official: Fixture,
                                                                 _private_download_folder: Path) -> None:
    _private_download_folder.mkdir(parents=True)
    shutil.copy(official.archive, _private_download_folder)
    shutil.copy(official.annotations, _private_download_folder)
    prepare_dataset("cars196", tmp_path / "cars", md5=official.md5, annotations_md5=official.annotations_md5,
                    urls=["http://127.0.0.1:9/none"], expected=official.counts(TRAIN), **QUIET)
    _classes(tmp_path / "cars", official)
    assert set(read_manifest(tmp_path / "cars" / "manifest.csv")["md5"]) == {official.md5}


def test_extracted_car_ims_in_the_download_folder(tmp_path: Path, official: Fixture,
                                                  _private_download_folder: Path) -> None:
    with tarfile.open(official.archive) as tar:
        tar.extractall(_private_download_folder, filter="data")
    shutil.copy(official.annotations, _private_download_folder)
    prepare_dataset("cars196", tmp_path / "cars", annotations_md5=official.annotations_md5,
                    expected=official.counts(TRAIN), **QUIET)
    _classes(tmp_path / "cars", official)
    # The counts are checked: the paper's refuse this small copy.
    with pytest.raises(SmartMiningError, match=r"images: found 8, expected 16,185"):
        cars196(tmp_path / "again", annotations_md5=official.annotations_md5, **QUIET)


def test_devkit_folders_nested_as_on_kaggle(tmp_path: Path, devkit: Fixture, _private_download_folder: Path) -> None:
    for part in ("cars_train", "cars_test"):
        shutil.copytree(devkit.archive / part, _private_download_folder / part / part)
    shutil.copytree(devkit.archive / "devkit", _private_download_folder / "car_devkit" / "devkit")
    shutil.copy(devkit.archive / "cars_test_annos_withlabels.mat", _private_download_folder / "car_devkit")
    root = tmp_path / "cars"
    prepare_dataset("cars196", root, crop_boxes=True, expected=devkit.counts(TRAIN), **QUIET)
    _classes(root, devkit)
    manifest = read_manifest(root / "manifest.csv")
    assert manifest["path"].str.startswith("cropped/").all()
    for path in manifest["path"]:
        assert path.startswith(("cropped/cars_train/cars_train/", "cropped/cars_test/cars_test/"))
        left, top, right, bottom = devkit.boxes["/".join(Path(path).parts[-2:])]
        with Image.open(root / path) as image:
            assert image.size == (right - left, bottom - top)


def test_devkit_tgz_parts_checked_by_md5(tmp_path: Path, devkit: Fixture, _private_download_folder: Path) -> None:
    dl = _private_download_folder
    dl.mkdir(parents=True)
    md5s = {}
    for name, source, arcname in (("cars_train.tgz", devkit.archive / "cars_train", "cars_train"),
                                  ("cars_test.tgz", devkit.archive / "cars_test", "cars_test"),
                                  ("car_devkit.tgz", devkit.archive / "devkit", "devkit")):
        md5s[name] = md5_of(_tgz(dl / name, source, arcname).read_bytes())
    shutil.copy(devkit.archive / "cars_test_annos_withlabels.mat", dl)
    md5s["cars_test_annos_withlabels.mat"] = md5_of((dl / "cars_test_annos_withlabels.mat").read_bytes())
    root = tmp_path / "cars"
    prepare_dataset("cars196", root, devkit_md5=md5s, expected=devkit.counts(TRAIN), **QUIET)
    _classes(root, devkit)
    _devkit_md5s(root)
    # Stanford's md5 (the default) is not these fakes': the tgz is refused, named with the md5 expected.
    with pytest.raises(SmartMiningError) as err:
        cars196(tmp_path / "stanford", expected=devkit.counts(TRAIN), **QUIET)
    assert str(dl / "cars_train.tgz") in str(err.value) and "065e5b463ae28d29e77c1b4b166cfe61" in str(err.value)


def test_one_zip_of_the_devkit_layout_given_as_archive(tmp_path: Path, devkit: Fixture) -> None:
    archive = tmp_path / "stanford-cars-dataset.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(devkit.archive.rglob("*")):
            if path.is_file():
                zf.write(path, f"stanford_cars/{path.relative_to(devkit.archive)}")
    root = tmp_path / "cars"
    prepare_dataset("cars196", root, archive=str(archive), expected=devkit.counts(TRAIN), **QUIET)
    _classes(root, devkit)
    _devkit_md5s(root)
    assert read_manifest(root / "manifest.csv")["path"].str.startswith("extracted/stanford_cars/cars_").all()


def test_part_of_the_devkit_layout_names_what_is_missing(tmp_path: Path, devkit: Fixture,
                                                         _private_download_folder: Path) -> None:
    shutil.copytree(devkit.archive / "cars_train", _private_download_folder / "cars_train")
    with pytest.raises(SmartMiningError, match=r"holds part of the devkit layout .*cars_test/.*cars_meta.mat"):
        cars196(tmp_path / "cars", **QUIET)


def test_a_folder_of_another_layout_lists_the_accepted_ones(tmp_path: Path) -> None:
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    with pytest.raises(SmartMiningError, match="found neither car_ims/ nor the devkit layout .*accepted layouts"):
        cars196(tmp_path / "cars", extracted=str(tmp_path / "photos"), **QUIET)


def test_a_failed_download_names_the_layouts_to_put_in_the_download_folder(tmp_path: Path,
                                                                           _private_download_folder: Path) -> None:
    from fixtures_paper import closed_port_url

    with pytest.raises(SmartMiningError, match=r"could not download car_ims.tgz(.|\n)*404 since 2023: put a copy"
                                               r"(.|\n)*cars_test_annos_withlabels.mat"):
        cars196(tmp_path / "cars", urls=[closed_port_url("car_ims.tgz")], **QUIET)
    assert not _private_download_folder.exists()
