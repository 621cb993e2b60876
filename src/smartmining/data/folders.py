"""Folders that appear complete or not at all: scratch folders renamed into place, and archive extraction.

``tempfile.mkdtemp`` makes mode-700 folders; a scratch folder that becomes a dataset's ``extracted/``
or ``cropped/`` gets the mode of any new folder instead (0o777 less the umask), as ``mkdir`` would.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from smartmining.atomic import current_umask
from smartmining.errors import SmartMiningError

SOURCE_STAMP = ".smartmining-source.json"  # written inside an extracted folder: which archive it holds


def scratch_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder in ``parent`` (created if needed) with the umask's mode, to be renamed into place."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(folder, 0o777 & ~current_umask())
    return folder


def replace_folder(new: Path, dest: Path) -> None:
    """Rename ``new`` onto ``dest``, moving an old ``dest`` aside first (folders cannot be replaced in one step)."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}-old-", dir=dest.parent))
        os.replace(dest, old / dest.name)
    os.replace(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fix_modes(folder: Path) -> None:
    """Sub-folders extracted from an archive keep its modes; make sure the owner can enter and read them."""
    for sub in folder.rglob("*"):
        if sub.is_dir() and not sub.is_symlink():
            mode = sub.stat().st_mode
            if mode & 0o700 != 0o700:
                os.chmod(sub, mode | 0o700)


def extract_once(archive: Path, dest: Path, stamp: str) -> Path:
    """Extract ``archive`` into the folder ``dest`` unless it already holds the same ``stamp``.

    Extraction goes to a scratch folder beside ``dest`` that replaces it by a rename, so ``dest``
    exists only complete. The stamp (the archive's md5, say) is recorded inside it.
    """
    archive, dest = Path(archive), Path(dest)
    stamp_path = dest / SOURCE_STAMP
    if stamp_path.is_file():
        try:
            if json.loads(stamp_path.read_text(encoding="utf-8")).get("stamp") == stamp:
                return dest
        except json.JSONDecodeError:
            pass  # a damaged stamp: extract again
    from torchvision.datasets.utils import extract_archive

    tmp = scratch_folder(dest.parent, f".{dest.name}-extracting-")
    try:
        try:
            extract_archive(archive, tmp)
        except (RuntimeError, OSError, EOFError, ValueError) as exc:  # tarfile/zipfile errors included
            raise SmartMiningError(f"{archive}: cannot extract ({type(exc).__name__}: {exc})") from exc
        _fix_modes(tmp)
        (tmp / SOURCE_STAMP).write_text(json.dumps({"archive": archive.name, "stamp": stamp}), encoding="utf-8")
        replace_folder(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
