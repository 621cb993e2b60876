"""Loading a manifest's images into one uint8 tensor, and a Dataset over it.

Small datasets (glyphs, a few thousand images) are decoded once and held in memory; the transform
then runs on tensors, which is much cheaper than decoding PNGs every epoch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

from smartmining.data.manifest import missing_files, resolve_path
from smartmining.errors import SmartMiningError

__all__ = ["LoadedSplit", "TensorImageDataset", "load_images", "load_images_checked", "read_image", "resolve_path"]

# What a damaged file raises while decoding: missing, truncated, not an image, absurdly large.
_DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)


def read_image(path: Path, *, size: int, channels: int) -> np.ndarray:
    """One image as uint8 (channels, size, size): converted to L or RGB, resized when it differs."""
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")  # RGB -> L, or L -> 3 equal channels
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


@dataclass(frozen=True)
class LoadedSplit:
    """One split in memory: images (N, C, size, size) uint8, labels (N,) int64, and the manifest paths
    of the images held (``paths``) and of those left out as unreadable (``skipped``, with skip_bad)."""

    images: torch.Tensor
    labels: np.ndarray
    paths: list[str]
    skipped: list[str]


def _bad_files_message(root: Path, split: str, missing: list[str], unreadable: list[str], limit: int) -> str:
    """Missing files: the first ``limit`` and the count (a moved dataset misses all); unreadable ones: all."""
    parts = []
    if missing:
        shown = "\n  ".join(missing[:limit])
        more = f"\n  ... and {len(missing) - limit} more" if len(missing) > limit else ""
        parts.append(f"{len(missing)} file(s) listed in the manifest are missing under {root}:\n  {shown}{more}")
    if unreadable:
        shown = "\n  ".join(unreadable)
        parts.append(f"{len(unreadable)} unreadable image(s) under {root}:\n  {shown}")
    return (f"load_images ({split!r} split): " + "\n".join(parts)
            + "\nRepair or remove these files and prepare the dataset again, or load with skip_bad=True.")


def load_images_checked(
    manifest: pd.DataFrame, root: Path, split: str, *, size: int, channels: int,
    skip_bad: bool = False, list_limit: int = 10,
) -> LoadedSplit:
    """All images of one split, in manifest order, as a LoadedSplit.

    Missing or unreadable files raise one SmartMiningError naming them (missing ones: the first
    ``list_limit`` and the count); with ``skip_bad`` they are left out with a warning and listed in
    ``skipped``. Skipping that leaves fewer than two classes in the split is an error.
    """
    if split not in ("train", "test"):
        raise SmartMiningError(f"load_images: split must be 'train' or 'test', got {split!r}")
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
        except _DECODE_ERRORS as exc:
            ok[i] = False
            unreadable.append(f"{path} ({type(exc).__name__}: {exc})")
    missing_listed = [str(resolve_path(root, p)) for p in paths if p in missing]
    if not ok.all():
        message = _bad_files_message(Path(root), split, missing_listed, unreadable, list_limit)
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


def load_images(
    manifest: pd.DataFrame, root: Path, split: str, *, size: int, channels: int, skip_bad: bool = False
) -> tuple[torch.Tensor, np.ndarray]:
    """(images uint8 (N, channels, size, size), labels int64) of one split; see ``load_images_checked``."""
    loaded = load_images_checked(manifest, root, split, size=size, channels=channels, skip_bad=skip_bad)
    return loaded.images, loaded.labels


class TensorImageDataset(torch.utils.data.Dataset):
    """(transformed image, label, index) over an in-memory uint8 image tensor."""

    def __init__(self, images: torch.Tensor, labels: np.ndarray,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise SmartMiningError(f"TensorImageDataset: images must be uint8 (N, C, H, W), got "
                                   f"{images.dtype} {tuple(images.shape)}")
        if len(labels) != len(images):
            raise SmartMiningError(f"TensorImageDataset: {len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        image = self.images[index]
        image = self.transform(image) if self.transform is not None else image.float() / 255.0
        return image, int(self.labels[index]), int(index)
