"""Evaluation at the edges: read saved embeddings and labels, write metrics.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smartmining import atomic
from smartmining.errors import SmartMiningError
from smartmining.evaluation.metrics import evaluate


def read_array(path: Path, what: str) -> np.ndarray:
    if not Path(path).is_file():
        raise SmartMiningError(f"{path}: no such file (expected the {what} as a .npy array)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise SmartMiningError(f"{path}: not a readable .npy array ({exc}); expected the {what}") from None


def evaluate_files(
    embeddings: Path, labels: Path, out: Path, *, ks: tuple[int, ...] = (1, 2, 4, 8), seed: int = 0
) -> dict[str, float]:
    emb = read_array(embeddings, "N x d embeddings")
    lab = read_array(labels, "N integer labels")
    if emb.ndim != 2:
        raise SmartMiningError(f"{embeddings}: expected an N x d array, got shape {emb.shape}")
    if lab.ndim != 1 or len(lab) != len(emb):
        raise SmartMiningError(f"{labels}: expected {len(emb)} labels (one per row of {embeddings}), got shape {lab.shape}")
    metrics = evaluate(emb.astype(np.float32), lab, ks=tuple(ks), seed=seed)
    atomic.write_json(out, metrics)
    return metrics
