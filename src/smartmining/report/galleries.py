"""Galleries of triplets (Figs. 5-6 and 10): mined (anchor, positive, negative) beside random ones for the
same anchors, at a few epochs, read from a run's samples.json and the dataset's images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from smartmining.errors import SmartMiningError
from smartmining.report.figures import MissingInputs

ROLES = ("anchor", "positive", "negative")


def pick_epochs(epochs: list[int], n: int = 4) -> list[int]:
    """Up to n epochs spread evenly over the logged ones (first and last included)."""
    epochs = sorted(set(epochs))
    if len(epochs) <= n:
        return epochs
    pos = np.linspace(0, len(epochs) - 1, n).round().astype(int)
    return [epochs[i] for i in dict.fromkeys(pos)]


def gallery_rows(samples: dict[str, Any], epochs: list[int], per_epoch: int) -> list[tuple[int, list[int], list[int]]]:
    """(epoch, mined [a, p, n], random [a, p, n]) for the first ``per_epoch`` triplets of each epoch."""
    by_epoch = {int(e["epoch"]): e for e in samples["epochs"]}
    rows = []
    for epoch in epochs:
        entry = by_epoch[epoch]
        for mined, rand in list(zip(entry["mined"], entry["random"]))[:per_epoch]:
            rows.append((epoch, [int(i) for i in mined], [int(i) for i in rand]))
    return rows


def load_image(dataset_root: Path, paths: list[str], index: int, where: str, size: int) -> np.ndarray:
    """One training image as size x size RGB uint8."""
    if not 0 <= index < len(paths):
        raise SmartMiningError(f"{where}: triplet index {index} is outside train_paths (0..{len(paths) - 1})")
    path = Path(dataset_root) / paths[index]
    if not path.is_file():
        raise MissingInputs(f"image {path} is missing (prepare the dataset under data_root to draw the galleries)")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


def montage(tiles: list[list[np.ndarray]], size: int, gap: int) -> np.ndarray:
    """Rows of 6 tiles (mined a, p, n | random a, p, n) on white, a wider gap between the two triplets."""
    height = len(tiles) * (size + gap) - gap
    width = 6 * size + 5 * gap + 3 * gap
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            x = c * (size + gap) + (3 * gap if c >= 3 else 0)
            y = r * (size + gap)
            out[y:y + size, x:x + size] = tile
    return out


def fig_triplet_gallery(samples: dict[str, Any], dataset_root: Path, title: str, *, n_epochs: int = 4,
                        per_epoch: int = 3, size: int = 64, where: str = "samples.json") -> Figure:
    """Rows of triplets: mined (anchor, positive, negative) on the left, random for the same anchor on the right.

    Drawn as one image (a montage) so that the figure stays quick to save however many rows it has.
    """
    logged = [int(e["epoch"]) for e in samples.get("epochs", []) if e.get("mined")]
    if not logged:
        raise MissingInputs(f"{where} holds no mined triplets (the method mines none, or only warm-up epochs ran)")
    rows = gallery_rows(samples, pick_epochs(logged, n_epochs), per_epoch)
    paths, gap = samples["train_paths"], max(2, size // 16)
    tiles = [[load_image(dataset_root, paths, i, where, size) for i in mined + rand] for _, mined, rand in rows]
    fig, ax = plt.subplots(figsize=(6.5, 0.75 + 1.0 * len(rows)))
    ax.imshow(montage(tiles, size, gap), interpolation="nearest")
    step = size + gap
    ax.set_xticks([c * step + size / 2 + (3 * gap if c >= 3 else 0) for c in range(6)],
                  [("mined\n" if c < 3 else "random\n") + ROLES[c % 3] for c in range(6)], fontsize=7)
    ax.xaxis.tick_top()
    ax.set_yticks([r * step + size / 2 for r in range(len(rows))], [f"epoch {e}" for e, _, _ in rows], fontsize=7)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=9)
    return fig
