"""The paper's datasets: CUB-200-2011 (and Cars196: cars196.py), and Stanford Online Products for scale
(PAPER.md section 7), with the helpers they share.

Each preparer takes its images from a verified download, a local archive (``archive=PATH``) or an
already extracted folder (``extracted=PATH``), splits the classes as the protocol says, checks the
published image and class counts (``expected``: the paper's by default) and returns the manifest.

The manifest's ``md5`` column holds the published md5 of the archive the images come from, the same
in every row: it names the release, and hashing 120k images one by one would add minutes for nothing
the archive's md5 does not already guarantee. With ``extracted=`` or ``verify=false`` that md5 was
not checked here; dataset.json records those options.

Options common to the preparers: ``urls`` (mirrors, tried in order) and ``md5`` replace the published
ones; ``verify=false`` skips the md5 of a local ``archive`` (a re-packed copy, say; an ``extracted``
folder has no md5 to check, only its layout and counts); ``download_dir``, ``retries``, ``backoff``,
``timeout`` and ``progress`` tune the download. Archives are looked for, and downloaded, in the download
folder (``download_dir``, else $SMARTMINING_DOWNLOADS, else ~/.cache/smartmining/downloads; ``local_copies``)
and extracted to ``root/extracted``; with ``crop_boxes=true`` the bounding-box crops are written under
``root/cropped`` and listed instead.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path
import numpy as np
import pandas as pd
from PIL import Image

from smartmining.data.download import (RemoteFile, Transfer, check_md5_text, resolve_urls, unverified_stamp,
                                       verify_local_file)
from smartmining.data.folders import extract_once, replace_folder, scratch_folder
from smartmining.data.local_copies import downloads_folder, local_or_download
from smartmining.data.manifest import MANIFEST_COLUMNS
from smartmining.data.paper_tables import (COUNT_KEYS, PAPER_COUNTS, check_counts,  # noqa: F401  (re-exported)
                                           contiguous_labels, count_summary, read_cub,
                                           read_sop, resolve_expected, split_by_class_id)
from smartmining.data.registry import register_dataset
from smartmining.errors import SmartMiningError

CUB_ARCHIVE = RemoteFile("CUB_200_2011.tgz", "97eceeb196236b17998738112f37df78", (
    "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
    "http://www.vision.caltech.edu/visipedia-data/CUB-200-2011/CUB_200_2011.tgz",
))
SOP_ARCHIVE = RemoteFile("Stanford_Online_Products.zip", "7f73d41a2f44250d4779881525aea32e",
                         ("ftp://cs.stanford.edu/cs/cvgl/Stanford_Online_Products.zip",))

EXTRACTED_DIR, CROPPED_DIR = "extracted", "cropped"
# Where the files come from and how they are fetched and checked: not what the prepared data is (registry).
FETCH_OPTIONS = ("archive", "extracted", "urls", "md5", "verify", "expected", "download_dir", "retries", "backoff",
                 "timeout", "progress")


# --- getting the files ----------------------------------------------------------------------------

def find_folder(base: Path, subdir: str, marker: str, what: str) -> Path:
    """``base/subdir`` or ``base`` itself, whichever holds ``marker``."""
    for folder in (base / subdir, base):
        if (folder / marker).exists():
            return folder
    raise SmartMiningError(f"{what}: found no {marker} in {base / subdir} or {base}; expected the layout "
                           f"of the published archive ({subdir}/{marker})")


def source_folder(root: Path, remote: RemoteFile, *, archive: str | None, extracted: str | None, verify: bool,
                   download_dir: str | None, transfer: Transfer, subdir: str, marker: str) -> Path:
    """The folder holding the dataset's files: the user's extracted folder, or ours from their archive or a download."""
    if archive is not None and extracted is not None:
        raise SmartMiningError("give either archive=PATH or extracted=PATH, not both")
    if extracted is not None:
        base = Path(extracted).expanduser()
        if not base.is_dir():
            raise SmartMiningError(f"extracted={base}: folder not found")
        return find_folder(base, subdir, marker, f"extracted={base}")
    if archive is not None:
        path = Path(archive).expanduser()
        if verify:
            verify_local_file(path, remote.md5, option="archive")
            stamp = remote.md5
        elif not path.is_file():
            raise SmartMiningError(f"archive={path}: file not found")
        else:
            stamp = unverified_stamp(path)
    else:
        path = local_or_download(remote, downloads_folder(download_dir), transfer)
        stamp = remote.md5
    base = extract_once(path, root / EXTRACTED_DIR, stamp)
    return find_folder(base, subdir, marker, str(path))


def remote_file(default: RemoteFile, urls: Sequence[str] | str | None, md5: str, option: str = "") -> RemoteFile:
    return RemoteFile(default.filename, check_md5_text(md5, f"{option}md5"),
                      resolve_urls(urls, default.urls, f"{option}urls"))


def _check_files(folder: Path, relative: Sequence[str], dataset: str) -> None:
    missing = [rel for rel in relative if not (folder / rel).is_file()]
    if missing:
        raise SmartMiningError(f"{dataset}: {len(missing)} listed image(s) missing under {folder}, e.g. {missing[:5]}")


def _manifest_paths(root: Path, folder: Path, relative: Sequence[str]) -> list[str]:
    """Paths relative to the dataset root when the images lie under it, else absolute."""
    folder = folder.resolve()
    try:
        prefix = folder.relative_to(root.resolve()).as_posix()
    except ValueError:
        prefix = folder.as_posix()
    return [f"{prefix}/{rel}" for rel in relative]


def crop_images(folder: Path, relative: Sequence[str], boxes: np.ndarray, dest: Path) -> None:
    """Write each image cropped to its box (left, top, right, bottom, pixels) to ``dest/<relative>``.

    The crops are written to a temporary folder that then replaces ``dest``.
    """
    tmp = scratch_folder(dest.parent, f".{dest.name}-writing-")
    try:
        for rel, (left, top, right, bottom) in zip(relative, np.asarray(boxes, dtype=np.float64), strict=True):
            with Image.open(folder / rel) as image:
                width, height = image.size
                box = (max(0, math.floor(left)), max(0, math.floor(top)),
                       min(width, math.ceil(right)), min(height, math.ceil(bottom)))
                if box[2] <= box[0] or box[3] <= box[1]:
                    raise SmartMiningError(f"{folder / rel}: bounding box {(left, top, right, bottom)} is empty "
                                           f"inside the {width}x{height} image")
                crop = image.crop(box)
                if crop.mode not in ("RGB", "L"):
                    crop = crop.convert("RGB")
            out = tmp / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            crop.save(out, format="JPEG", quality=95)
        replace_folder(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def finish_manifest(root: Path, folder: Path, table: pd.DataFrame, *, boxes: np.ndarray | None, dataset: str,
            md5: str | Sequence[str], expected: dict[str, int]) -> pd.DataFrame:
    """The manifest from a table of rel (under folder), class_id, class_name, split: counts checked, crops written.

    ``md5``: the archive's for every row, or one per row."""
    check_counts(count_summary(table["class_id"], table["split"]), expected, dataset)
    _check_files(folder, table["rel"].tolist(), dataset)
    if boxes is not None:
        crop_images(folder, table["rel"].tolist(), boxes, root / CROPPED_DIR)
        folder = root / CROPPED_DIR
    return pd.DataFrame({
        "path": _manifest_paths(root, folder, table["rel"].tolist()),
        "label": contiguous_labels(table["class_id"], table["split"]),
        "class_name": table["class_name"].astype(str).to_numpy(),
        "split": table["split"].to_numpy(),
        "md5": md5,
    }, columns=list(MANIFEST_COLUMNS))


# --- the datasets -----------------------------------------------------------------------------------

def transfer_of(retries: int, backoff: float, timeout: float, progress: bool) -> Transfer:
    return Transfer(retries=int(retries), backoff=float(backoff), timeout=float(timeout), progress=bool(progress))


@register_dataset("cub200", version=1, fetch=FETCH_OPTIONS)
def cub200(root: Path, *, archive: str | None = None, extracted: str | None = None, urls: list[str] | None = None,
           md5: str = CUB_ARCHIVE.md5, verify: bool = True, crop_boxes: bool = False,
           expected: dict[str, int] | None = None, download_dir: str | None = None, retries: int = 3,
           backoff: float = 2.0, timeout: float = 60.0, progress: bool = True) -> pd.DataFrame:
    """CUB-200-2011: classes 1-100 train, 101-200 test; crops from bounding_boxes.txt with crop_boxes."""
    root, remote = Path(root), remote_file(CUB_ARCHIVE, urls, md5)
    folder = source_folder(root, remote, archive=archive, extracted=extracted, verify=verify,
                            download_dir=download_dir, transfer=transfer_of(retries, backoff, timeout, progress),
                            subdir="CUB_200_2011", marker="images.txt")
    table, boxes = read_cub(folder)
    return finish_manifest(root, folder, table, boxes=boxes if crop_boxes else None, dataset="cub200", md5=remote.md5,
                   expected=resolve_expected(expected, "cub200"))


@register_dataset("sop", version=1, fetch=FETCH_OPTIONS)
def sop(root: Path, *, archive: str | None = None, extracted: str | None = None, urls: list[str] | None = None,
        md5: str = SOP_ARCHIVE.md5, verify: bool = True, expected: dict[str, int] | None = None,
        download_dir: str | None = None, retries: int = 3, backoff: float = 2.0, timeout: float = 60.0,
        progress: bool = True) -> pd.DataFrame:
    """Stanford Online Products: the split of Ebay_train.txt / Ebay_test.txt."""
    root, remote = Path(root), remote_file(SOP_ARCHIVE, urls, md5)
    folder = source_folder(root, remote, archive=archive, extracted=extracted, verify=verify,
                            download_dir=download_dir, transfer=transfer_of(retries, backoff, timeout, progress),
                            subdir="Stanford_Online_Products", marker="Ebay_train.txt")
    return finish_manifest(root, folder, read_sop(folder), boxes=None, dataset="sop", md5=remote.md5,
                   expected=resolve_expected(expected, "sop"))

