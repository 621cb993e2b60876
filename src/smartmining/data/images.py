"""Loading a manifest's images into one uint8 tensor, and a Dataset over it.

Small datasets (glyphs, a few thousand images) are decoded once and held in memory; the transform
then runs on tensors, which is much cheaper than decoding PNGs every epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

from smartmining.errors import SmartMiningError


def resolve_path(root: Path, path: str) -> Path:
    """A manifest path: relative to the dataset root, or absolute (image-folder datasets)."""
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p


def read_image(path: Path, *, size: int, channels: int) -> np.ndarray:
    """One image as uint8 (channels, size, size): converted to L or RGB, resized when it differs."""
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")  # RGB -> L, or L -> 3 equal channels
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def load_images(
    manifest: pd.DataFrame, root: Path, split: str, *, size: int, channels: int
) -> tuple[torch.Tensor, np.ndarray]:
    """All images of one split as a uint8 tensor (N, channels, size, size) and int64 labels, in manifest order."""
    if split not in ("train", "test"):
        raise SmartMiningError(f"load_images: split must be 'train' or 'test', got {split!r}")
    if channels not in (1, 3):
        raise SmartMiningError(f"load_images: channels must be 1 or 3, got {channels}")
    if size < 1:
        raise SmartMiningError(f"load_images: size must be positive, got {size}")
    rows = manifest[manifest["split"] == split]
    if len(rows) == 0:
        raise SmartMiningError(f"load_images: the manifest has no {split!r} images")
    out = np.empty((len(rows), channels, size, size), dtype=np.uint8)
    bad: list[str] = []
    for i, rel in enumerate(rows["path"]):
        path = resolve_path(root, rel)
        try:
            out[i] = read_image(path, size=size, channels=channels)
        except (OSError, UnidentifiedImageError, ValueError) as exc:  # missing, truncated, not an image
            bad.append(f"{path} ({type(exc).__name__}: {exc})")
    if bad:
        listing = "\n  ".join(bad)
        raise SmartMiningError(f"load_images: {len(bad)} unreadable image(s) under {root}:\n  {listing}")
    return torch.from_numpy(out), rows["label"].to_numpy(dtype=np.int64)


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
