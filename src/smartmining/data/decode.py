"""Decoding image files, and finding the ones that are missing or do not decode (no torch here).

``images.load_images_checked`` reads a split through these; ``prepare_dataset`` checks every image of a
new manifest with ``find_bad_images`` once, so that training never meets a damaged file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from smartmining.data.manifest import missing_files, resolve_path

# What a damaged file raises while decoding: missing, truncated, not an image, absurdly large.
DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)


def read_image(path: Path, *, size: int, channels: int) -> np.ndarray:
    """One image as uint8 (channels, size, size): converted to L or RGB, resized when it differs."""
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")  # RGB -> L, or L -> 3 equal channels
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def decode_check(path: Path) -> tuple[int, int, str]:
    """Decode the whole file once; return (width, height, mode). Raises one of DECODE_ERRORS if damaged."""
    with Image.open(path) as image:
        # JPEG: decode at a reduced scale. Every byte of the stream is still read and entropy-decoded,
        # so truncation and corruption are found, at a fraction of the cost.
        image.draft(image.mode, (64, 64))
        image.load()
        width, height = image.size
        if width < 1 or height < 1:
            raise ValueError(f"empty image {width}x{height}")
        return width, height, image.mode


def bad_files_message(root: Path, missing: list[str], unreadable: list[str], limit: int) -> str:
    """Missing files: the first ``limit`` and the count (a moved dataset misses all); unreadable ones: all."""
    parts = []
    if missing:
        shown = "\n  ".join(missing[:limit])
        more = f"\n  ... and {len(missing) - limit} more" if len(missing) > limit else ""
        parts.append(f"{len(missing)} file(s) listed in the manifest are missing under {root}:\n  {shown}{more}")
    if unreadable:
        shown = "\n  ".join(unreadable)
        parts.append(f"{len(unreadable)} unreadable image(s) under {root}:\n  {shown}")
    return "\n".join(parts)


def find_bad_images(manifest: pd.DataFrame, root: str | os.PathLike[str], *, progress: bool | None = None,
                    limit: int = 10) -> tuple[list[str], str]:
    """The manifest paths (in manifest order) that are missing or do not decode, and a message listing them
    (empty when none). Each image is decoded once, with a progress bar (``progress`` None: on a terminal)."""
    paths = manifest["path"].astype(str).tolist()
    missing = set(missing_files(manifest, root))
    bad: list[str] = []
    unreadable: list[str] = []
    for rel in tqdm(paths, desc="checking images", unit="img", disable=None if progress is None else not progress,
                    leave=False):
        if rel in missing:
            bad.append(rel)
            continue
        path = resolve_path(root, rel)
        try:
            decode_check(path)
        except DECODE_ERRORS as exc:
            bad.append(rel)
            unreadable.append(f"{path} ({type(exc).__name__}: {exc})")
    missing_listed = [str(resolve_path(root, p)) for p in paths if p in missing]
    return bad, bad_files_message(Path(root), missing_listed, unreadable, limit) if bad else ""
