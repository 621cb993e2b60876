"""Cars196 (Stanford Cars), split by class as the paper: classes 1-98 train, 99-196 test (PAPER.md section 7).

Its Stanford URLs answer 404 since 2023, so the preparer takes the copies people have, in this order:
1. ``extracted=PATH``: a folder holding ``car_ims/`` (+ ``cars_annos.mat``) or the devkit layout below;
2. ``archive=PATH``: ``car_ims.tgz`` (md5 checked), or an archive holding the devkit layout (counts checked);
3. the download folder (``local_copies``): ``car_ims.tgz`` + ``cars_annos.mat`` (md5 checked), an extracted
   ``car_ims/`` + ``cars_annos.mat``, or the devkit layout, as folders or as ``cars_train``, ``cars_test`` and
   ``car_devkit`` ``.tgz`` (md5 checked: Stanford's, as torchvision listed them) or ``.zip`` (counts checked);
4. a download of ``car_ims.tgz`` and ``cars_annos.mat`` (mirrors: ``urls``, ``annotations_urls``).

The devkit layout (Kaggle's copies): image folders ``cars_train/`` and ``cars_test/`` (possibly nested once
more, ``cars_train/cars_train/``) and ``cars_train_annos.mat``, ``cars_test_annos_withlabels.mat`` and
``cars_meta.mat`` anywhere up to two folders down. Its manifest's md5 column holds each image's own md5
(no archive md5 names that release); from ``car_ims`` it holds car_ims.tgz's. Either way the counts are
checked (``expected``: 16,185 images, 196 classes, 8,054 train and 8,131 test by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from smartmining.data.download import RemoteFile, calculate_md5, unverified_stamp, verify_local_file
from smartmining.data.folders import extract_once
from smartmining.data.local_copies import Checksum, checked_copy, downloads_folder, local_or_download
from smartmining.data.manifest import file_md5
from smartmining.data.paper_datasets import (EXTRACTED_DIR, FETCH_OPTIONS, find_folder, finish_manifest, remote_file,
                                             source_folder, transfer_of)
from smartmining.data.paper_tables import read_cars_annotations, read_cars_devkit, resolve_expected
from smartmining.data.registry import register_dataset
from smartmining.errors import SmartMiningError

CARS_IMAGES = RemoteFile("car_ims.tgz", "d5c8f0aa497503f355e17dc7886c3f14",
                         ("http://ai.stanford.edu/~jkrause/car196/car_ims.tgz",))
CARS_ANNOTATIONS = RemoteFile("cars_annos.mat", "b407c6086d669747186bd1d764ff9dbc",
                              ("http://ai.stanford.edu/~jkrause/car196/cars_annos.mat",))
# The devkit layout's published files (torchvision's StanfordCars md5s, before its download was dropped).
DEVKIT_MD5 = {"cars_train.tgz": "065e5b463ae28d29e77c1b4b166cfe61", "cars_test.tgz": "4ce7ebf6a94d07f1952d94dd34c4d501",
              "car_devkit.tgz": "c3b158d763b6e2245038c8ad08e45376",
              "cars_test_annos_withlabels.mat": "b0a2b23655a3edd16d84508592a98d10"}
DEVKIT_PARTS = ("cars_train", "cars_test", "car_devkit")
DEVKIT_MATS = {"train_annos": "cars_train_annos.mat", "test_annos": "cars_test_annos_withlabels*.mat",
               "meta": "cars_meta.mat"}
LAYOUTS = ("car_ims.tgz + cars_annos.mat; car_ims/ + cars_annos.mat; or cars_train/, cars_test/ + "
           "cars_train_annos.mat, cars_test_annos_withlabels.mat, cars_meta.mat (folders, .tgz or .zip)")


@dataclass(frozen=True)
class Devkit:
    train_dir: Path
    test_dir: Path
    train_annos: Path
    test_annos: Path
    meta: Path


def _image_dir(bases: list[Path], name: str) -> Path | None:
    """The folder named ``name`` that holds jpgs directly: base/name, base/name/name, or one level further down."""
    for base in bases:
        for candidate in (base / name / name, base / name, *sorted(base.glob(f"*/{name}/{name}")),
                          *sorted(base.glob(f"*/{name}"))):
            if candidate.is_dir() and next(candidate.glob("*.jpg"), None) is not None:
                return candidate
    return None


def _find_file(bases: list[Path], pattern: str) -> Path | None:
    for base in bases:
        for depth in (pattern, f"*/{pattern}", f"*/*/{pattern}"):
            found = sorted(p for p in base.glob(depth) if p.is_file())
            if found:
                return found[0]
    return None


def find_devkit(bases: list[Path]) -> tuple[Devkit | None, list[str]]:
    """The devkit layout under ``bases``, or None and the names of its missing parts."""
    parts = {"train_dir": _image_dir(bases, "cars_train"), "test_dir": _image_dir(bases, "cars_test"),
             **{key: _find_file(bases, pattern) for key, pattern in DEVKIT_MATS.items()}}
    missing = [{"train_dir": "cars_train/", "test_dir": "cars_test/"}.get(k, DEVKIT_MATS.get(k, k))
               for k, v in parts.items() if v is None]
    return (None, missing) if missing else (Devkit(**parts), [])


def _devkit_in_downloads(root: Path, folder: Path, devkit_md5: dict[str, str]) -> tuple[Devkit | None, list[str]]:
    """The devkit layout from the download folder's folders and archives (archives extracted under root);
    also which of its parts were seen there (none: the layout is not there at all)."""
    bases, seen = [folder], []
    for part in DEVKIT_PARTS:
        if (folder / part).is_dir():
            seen.append(f"{part}/")
        for suffix in (".tgz", ".zip"):
            name = part + suffix
            if not (folder / name).is_file():
                continue
            seen.append(name)
            if name in devkit_md5:
                checked_copy(folder, name, Checksum("md5", devkit_md5[name]))
                stamp = devkit_md5[name]
            else:
                stamp = unverified_stamp(folder / name)
            bases.append(extract_once(folder / name, root / EXTRACTED_DIR / part, stamp))
    loose = "cars_test_annos_withlabels.mat"
    if (folder / loose).is_file():
        seen.append(loose)
        checked_copy(folder, loose, Checksum("md5", devkit_md5[loose]))
    if not seen:
        return None, []
    devkit, missing = find_devkit(bases)
    if devkit is None:
        raise SmartMiningError(f"cars196: the download folder {folder} holds part of the devkit layout ({seen}) but "
                               f"not {missing}; accepted layouts: {LAYOUTS}")
    return devkit, seen


def _from_devkit(root: Path, devkit: Devkit, crop_boxes: bool, expected: dict[str, int]) -> pd.DataFrame:
    common = Path(*[a for a, b in zip(devkit.train_dir.parts, devkit.test_dir.parts, strict=False) if a == b])
    table, boxes = read_cars_devkit(devkit.train_annos, devkit.test_annos, devkit.meta,
                                    devkit.train_dir.relative_to(common).as_posix(),
                                    devkit.test_dir.relative_to(common).as_posix())
    missing = [rel for rel in table["rel"] if not (common / rel).is_file()]
    if missing:
        raise SmartMiningError(f"cars196: {len(missing)} listed image(s) missing under {common}, e.g. {missing[:5]}")
    return finish_manifest(root, common, table, boxes=boxes if crop_boxes else None, dataset="cars196",
                           md5=[file_md5(common / rel) for rel in table["rel"]], expected=expected)


@register_dataset("cars196", version=1, fetch=(*FETCH_OPTIONS, "annotations", "annotations_urls", "annotations_md5",
                                              "devkit_md5"))
def cars196(root: Path, *, archive: str | None = None, extracted: str | None = None, urls: list[str] | None = None,
            md5: str = CARS_IMAGES.md5, annotations: str | None = None, annotations_urls: list[str] | None = None,
            annotations_md5: str = CARS_ANNOTATIONS.md5, devkit_md5: dict[str, str] | None = None,
            verify: bool = True, crop_boxes: bool = False, expected: dict[str, int] | None = None,
            download_dir: str | None = None, retries: int = 3, backoff: float = 2.0, timeout: float = 60.0,
            progress: bool = True) -> pd.DataFrame:
    """Cars196 from any accepted layout (module docstring); ``annotations=PATH`` gives a local cars_annos.mat."""
    root, remote = Path(root), remote_file(CARS_IMAGES, urls, md5)
    annos_remote = remote_file(CARS_ANNOTATIONS, annotations_urls, annotations_md5, "annotations_")
    transfer, folder = transfer_of(retries, backoff, timeout, progress), downloads_folder(download_dir)
    expected = resolve_expected(expected, "cars196")
    if archive is not None and extracted is not None:
        raise SmartMiningError("give either archive=PATH or extracted=PATH, not both")
    images: Path | None = None  # the folder holding car_ims/
    if extracted is not None:
        base = Path(extracted).expanduser()
        if not base.is_dir():
            raise SmartMiningError(f"extracted={base}: folder not found")
        if not (base / "car_ims").is_dir():
            devkit, missing = find_devkit([base])
            if devkit is None:
                raise SmartMiningError(f"extracted={base}: found neither car_ims/ nor the devkit layout (missing "
                                       f"{missing}); accepted layouts: {LAYOUTS}")
            return _from_devkit(root, devkit, crop_boxes, expected)
        images = base
    elif archive is not None:
        path = Path(archive).expanduser()
        if not path.is_file():
            raise SmartMiningError(f"archive={path}: file not found")
        got = calculate_md5(path)
        base = extract_once(path, root / EXTRACTED_DIR, got if got == remote.md5 else unverified_stamp(path))
        if got != remote.md5:
            devkit, _ = find_devkit([base])
            if devkit is not None:
                return _from_devkit(root, devkit, crop_boxes, expected)
            if verify:
                raise SmartMiningError(
                    f"archive={path}: md5 mismatch: expected {remote.md5} (car_ims.tgz), got {got}, and it holds no "
                    f"devkit layout; accepted layouts: {LAYOUTS} (verify=false accepts another car_ims.tgz)")
        images = find_folder(base, "", "car_ims", str(path))
    elif checked_copy(folder, CARS_IMAGES.filename, Checksum("md5", remote.md5)) is None:
        if (folder / "car_ims").is_dir():
            images = folder
        else:
            devkit, _ = _devkit_in_downloads(root, folder, {**DEVKIT_MD5, **(devkit_md5 or {})})
            if devkit is not None:
                return _from_devkit(root, devkit, crop_boxes, expected)
    if images is None:  # car_ims.tgz from the download folder, or downloaded into it
        try:
            images = source_folder(root, remote, archive=None, extracted=None, verify=verify,
                                   download_dir=download_dir, transfer=transfer, subdir="", marker="car_ims")
        except SmartMiningError as exc:
            raise SmartMiningError(f"{exc}\nStanford's Cars196 links answer 404 since 2023: put a copy you have in "
                                   f"{folder}, in one of the accepted layouts: {LAYOUTS}") from exc
    if annotations is None and (images / CARS_ANNOTATIONS.filename).is_file() and images != folder:
        annotations = str(images / CARS_ANNOTATIONS.filename)
    if annotations is None:
        annos_path = local_or_download(annos_remote, folder, transfer)
    elif verify:
        annos_path = verify_local_file(annotations, annos_remote.md5, option="annotations")
    else:
        annos_path = Path(annotations).expanduser()
        if not annos_path.is_file():
            raise SmartMiningError(f"annotations={annos_path}: file not found")
    table, boxes = read_cars_annotations(annos_path)
    return finish_manifest(root, images, table, boxes=boxes if crop_boxes else None, dataset="cars196",
                           md5=remote.md5, expected=expected)
