"""A user's own images as a dataset: one subfolder per class under a source folder.

Images stay where they are. In the manifest, ``path`` is relative to the dataset root when the image
lies under it, and absolute otherwise (``manifest.resolve_path`` reads both).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from smartmining.data.manifest import MANIFEST_COLUMNS, file_md5, split_classes
from smartmining.data.registry import register_dataset
from smartmining.errors import SmartMiningError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


def _is_hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def _class_images(folder: Path) -> list[Path]:
    """Image files under a class folder (sub-folders included), hidden ones and other files skipped."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not _is_hidden(p, folder))


def _manifest_path(image: Path, root: Path) -> str:
    try:
        return image.relative_to(root).as_posix()
    except ValueError:
        return str(image)


def _choose_split(classes: list[str], train: list[str] | None, test: list[str] | None,
                  source: Path) -> tuple[list[str], list[str]]:
    for name, given in (("train_classes", train), ("test_classes", test)):
        if given is not None and (isinstance(given, str) or not all(isinstance(c, str) for c in given)):
            raise SmartMiningError(f"imagefolder: {name} must be a list of class folder names, got {given!r}")
    if train is None and test is None:
        return split_classes(classes, rng_seed=None)
    for name, given in (("train_classes", train), ("test_classes", test)):
        if given is not None:
            missing = [c for c in given if c not in classes]
            if missing:
                raise SmartMiningError(f"imagefolder: {name} lists class(es) {missing} that have no folder in {source}")
            if len(set(given)) != len(given):
                raise SmartMiningError(f"imagefolder: {name} lists a class twice")
    if train is not None and test is not None:
        both = sorted(set(train) & set(test))
        if both:
            raise SmartMiningError(f"imagefolder: class(es) {both} are in both train_classes and test_classes")
    # A list given on one side only: the other side takes every remaining class.
    train = list(train) if train is not None else [c for c in classes if c not in set(test or [])]
    test = list(test) if test is not None else [c for c in classes if c not in set(train)]
    for name, chosen in (("train", train), ("test", test)):
        if not chosen:
            raise SmartMiningError(f"imagefolder: the {name} split has no classes")
    return train, test


def scan_imagefolder(source: Path, root: Path, *, train_classes: list[str] | None = None,
                     test_classes: list[str] | None = None) -> pd.DataFrame:
    """The manifest of ``source/<class>/<image>``; split by sorted class name (first half train) or the lists."""
    source, root = Path(source).resolve(), Path(root).resolve()
    if not source.exists():
        raise SmartMiningError(f"imagefolder: source folder {source} does not exist; expected a folder "
                               f"with one sub-folder of images per class")
    if not source.is_dir():
        raise SmartMiningError(f"imagefolder: source {source} is a file; expected a folder with one "
                               f"sub-folder of images per class")
    folders = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise SmartMiningError(f"imagefolder: {source} needs at least two class sub-folders "
                               f"(and each split two classes), found {len(folders)}")
    images = {f.name: _class_images(f) for f in folders}
    empty = [name for name, files in images.items() if not files]
    if empty:
        raise SmartMiningError(
            f"imagefolder: class folder(s) without images in {source}: {empty} "
            f"(image extensions: {sorted(IMAGE_EXTENSIONS)})")
    train, test = _choose_split(list(images), train_classes, test_classes, source)

    rows = []
    for label, name in enumerate(train + test):
        split = "train" if label < len(train) else "test"
        for image in images[name]:
            rows.append((_manifest_path(image, root), label, name, split, file_md5(image)))
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


@register_dataset("imagefolder", version=1)
def _prepare_imagefolder(root: Path, *, source: str, train_classes: list[str] | None = None,
                         test_classes: list[str] | None = None) -> pd.DataFrame:
    return scan_imagefolder(Path(source), root, train_classes=train_classes, test_classes=test_classes)
