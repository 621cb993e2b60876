"""Test helpers: tiny Omniglot halves as the official zips (PNG trees) and as the npz conversion, from the same
drawings, so both forms must give the same dataset."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SIZE, DRAWERS = 105, 20
FIRST = {"background": 1, "evaluation": 965}


@dataclass
class FakeHalf:
    """One half: drawings bool [C, 20, 105, 105] (True = background) and the alphabet of each character."""

    half: str
    drawings: np.ndarray
    alphabets: list[str]

    @property
    def numbers(self) -> list[int]:
        return [FIRST[self.half] + c for c in range(len(self.drawings))]


def fake_half(half: str, alphabets: dict[str, int], seed: int) -> FakeHalf:
    """Random strokes on white: each character its own blob pattern, each drawer a small variation of it."""
    rng = np.random.default_rng(seed)
    n = sum(alphabets.values())
    drawings = np.ones((n, DRAWERS, SIZE, SIZE), dtype=bool)
    for c in range(n):
        centres = rng.integers(10, SIZE - 10, size=(4, 2))
        for j in range(DRAWERS):
            for y, x in centres + rng.integers(-3, 4, size=(4, 2)):
                drawings[c, j, y - 3:y + 3, x - 3:x + 3] = False  # ink
    names = [a for a, k in alphabets.items() for _ in range(k)]
    return FakeHalf(half, drawings, names)


def write_npz(half: FakeHalf, path: Path) -> str:
    """images_<half>.npz as /work/shared/data/omniglot/README.md describes it; returns its sha256."""
    n = len(half.drawings)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=half.drawings, labels=np.repeat(np.arange(n)[:, None], DRAWERS, axis=1))
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def write_zip(half: FakeHalf, path: Path) -> str:
    """images_<half>.zip laid out as the official one (mode-"1" PNGs); returns its md5."""
    index_in_alphabet: dict[str, int] = {}
    with zipfile.ZipFile(path, "w") as archive:
        for c, (number, alphabet) in enumerate(zip(half.numbers, half.alphabets, strict=True)):
            index_in_alphabet[alphabet] = index_in_alphabet.get(alphabet, 0) + 1
            folder = f"images_{half.half}/{alphabet}/character{index_in_alphabet[alphabet]:02d}"
            for j in range(DRAWERS):
                png = io.BytesIO()
                Image.fromarray(half.drawings[c, j]).convert("1").save(png, format="PNG")
                archive.writestr(f"{folder}/{number:04d}_{j + 1:02d}.png", png.getvalue())
    return hashlib.md5(path.read_bytes()).hexdigest()
