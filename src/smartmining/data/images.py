"""Loading a manifest's images into one uint8 tensor, and a Dataset over it.

Small datasets (glyphs, a few thousand images) are decoded once and held in memory; the transform
then runs on tensors, which is much cheaper than decoding PNGs every epoch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from smartmining.data.decode import DECODE_ERRORS, bad_files_message, read_image
from smartmining.data.manifest import SPLITS, missing_files, resolve_path
from smartmining.errors import SmartMiningError

__all__ = ["LoadedSplit", "load_images_checked", "read_image", "resolve_path"]


@dataclass(frozen=True)
class LoadedSplit:
    """One split in memory: images (N, C, size, size) uint8, labels (N,) int64, and the manifest paths
    of the images held (``paths``) and of those left out as unreadable (``skipped``, with skip_bad)."""

    images: torch.Tensor
    labels: np.ndarray
    paths: list[str]
    skipped: list[str]


def load_images_checked(
    manifest: pd.DataFrame, root: Path, split: str, *, size: int, channels: int,
    skip_bad: bool = False, list_limit: int = 10,
) -> LoadedSplit:
    """All images of one split, in manifest order, as a LoadedSplit.

    Missing or unreadable files raise one SmartMiningError naming them (missing ones: the first
    ``list_limit`` and the count); with ``skip_bad`` they are left out with a warning and listed in
    ``skipped``. Skipping that leaves fewer than two classes in the split is an error.
    """
    if split not in SPLITS:
        raise SmartMiningError(f"load_images: split must be one of {list(SPLITS)}, got {split!r}")
    if channels not in (1, 3):
        raise SmartMiningError(f"load_images: channels must be 1 or 3, got {channels}")
    if size < 1:
        raise SmartMiningError(f"load_images: size must be positive, got {size}")
    rows = manifest[manifest["split"] == split]
    if len(rows) == 0:
        raise SmartMiningError(f"load_images: the manifest has no {split!r} images")
    paths = rows["path"].astype(str).tolist()
    # Existence first (a stat each): missing files are reported apart, as a moved dataset misses them all.
    missing = set(missing_files(rows, root))
    out = np.empty((len(rows), channels, size, size), dtype=np.uint8)
    ok = np.ones(len(rows), dtype=bool)
    unreadable: list[str] = []
    for i, rel in enumerate(paths):
        if rel in missing:
            ok[i] = False
            continue
        path = resolve_path(root, rel)
        try:
            out[i] = read_image(path, size=size, channels=channels)
        except DECODE_ERRORS as exc:
            ok[i] = False
            unreadable.append(f"{path} ({type(exc).__name__}: {exc})")
    missing_listed = [str(resolve_path(root, p)) for p in paths if p in missing]
    if not ok.all():
        message = (f"load_images ({split!r} split): " + bad_files_message(Path(root), missing_listed, unreadable, list_limit)
                   + "\nRepair or remove these files and prepare the dataset again, or load with skip_bad=True.")
        if not skip_bad:
            raise SmartMiningError(message)
        warnings.warn(f"skip_bad=True: skipping {int((~ok).sum())} of {len(paths)} images. {message}", stacklevel=2)
    labels = rows["label"].to_numpy(dtype=np.int64)[ok]
    if not ok.all() and np.unique(labels).size < 2:
        raise SmartMiningError(
            f"load_images ({split!r} split): after skipping {int((~ok).sum())} bad image(s), "
            f"{np.unique(labels).size} class(es) are left; at least 2 are needed")
    kept = np.flatnonzero(ok)
    images = torch.from_numpy(out if ok.all() else out[kept])
    return LoadedSplit(images, labels, [paths[i] for i in kept], [paths[i] for i in np.flatnonzero(~ok)])

