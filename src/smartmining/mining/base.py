"""What every miner returns (Triplets) and the two miner interfaces: offline (whole set) and online (one batch)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from smartmining.errors import SmartMiningError


@dataclass(frozen=True)
class Triplets:
    """Index arrays (a, p, n) into the embedded set, one triplet per position.

    ``is_random`` is True where a miner emitted a random triplet as a fallback (it found none to mine).
    """

    anchors: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    is_random: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("anchors", "positives", "negatives"):
            value = np.asarray(getattr(self, name))
            if value.ndim != 1 or not (value.size == 0 or np.issubdtype(value.dtype, np.integer)):
                raise SmartMiningError(f"Triplets.{name} must be a 1-D integer array, got {value.dtype} {value.shape}")
            arrays[name] = value.astype(np.int64, copy=False)
        n = len(arrays["anchors"])
        flags = np.zeros(n, dtype=bool) if self.is_random is None else np.asarray(self.is_random, dtype=bool)
        arrays["is_random"] = flags
        lengths = {name: len(a) for name, a in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise SmartMiningError(f"Triplets arrays must have the same length, got {lengths}")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.anchors)

    @classmethod
    def empty(cls) -> Triplets:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, np.zeros(0, dtype=bool))

    @classmethod
    def concat(cls, *parts: Triplets) -> Triplets:
        """Join triplet sets end to end (``Triplets.concat(a, b, ...)``)."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([t.anchors for t in parts]),
            np.concatenate([t.positives for t in parts]),
            np.concatenate([t.negatives for t in parts]),
            np.concatenate([t.is_random for t in parts]),
        )

    def subset(self, selection: np.ndarray) -> Triplets:
        """The triplets picked by a boolean mask or an index array (in that order)."""
        sel = np.asarray(selection)
        if sel.dtype == bool and sel.shape != (len(self),):
            raise SmartMiningError(f"subset mask must have shape ({len(self)},), got {sel.shape}")
        return Triplets(self.anchors[sel], self.positives[sel], self.negatives[sel], self.is_random[sel])


def check_offline_inputs(
    embeddings: np.ndarray | None, labels: np.ndarray, anchors: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Validate (embeddings (N, d), labels (N,), anchors (M,)) and return them as float32/int64 arrays."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise SmartMiningError(f"labels must be a 1-D integer array, got dtype {labels.dtype} shape {labels.shape}")
    n = len(labels)
    if embeddings is not None:
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape[0] != n:
            raise SmartMiningError(f"embeddings must have shape (N, d) with N = len(labels) = {n}, got {embeddings.shape}")
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    anchors = np.asarray(anchors)
    if anchors.ndim != 1 or not (anchors.size == 0 or np.issubdtype(anchors.dtype, np.integer)):
        raise SmartMiningError(f"anchors must be a 1-D integer array of point indices, got {anchors.dtype} {anchors.shape}")
    anchors = anchors.astype(np.int64, copy=False)
    if anchors.size and (anchors.min() < 0 or anchors.max() >= n):
        raise SmartMiningError(f"anchors must be indices in [0, {n}), got values in [{anchors.min()}, {anchors.max()}]")
    return embeddings, labels.astype(np.int64, copy=False), anchors


def merge_stats(parts: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Sum counts and weight the per-anchor means by each part's number of anchors."""
    total = sum(n for n, _ in parts)
    merged: dict[str, float] = {}
    for n, stats in parts:
        for key, value in stats.items():
            weight = n / total if key.startswith("mean_") else 1.0
            merged[key] = merged.get(key, 0.0) + weight * value
    return merged


class OfflineMiner(ABC):
    """Mines from a frozen embedding of the whole training set, once per epoch.

    ``mine`` returns exactly one triplet per given anchor, in the anchors' order; ``stats`` holds the
    figures of the last call (reset at each call), for the training loop to record.
    """

    name: str = "offline"
    needs_embedding: bool = True  # False: the miner ignores the embedding (no re-embedding for it)
    kappa: float = float("nan")  # the exclusion boundary's scale, where the miner has one (smart mining)

    def __init__(self) -> None:
        self.stats: dict[str, float] = {}

    def check_data(self, n_points: int) -> None:
        """Refuse, naming the parameter, a configuration the training set cannot serve (before training)."""

    @abstractmethod
    def mine(
        self, embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
    ) -> Triplets: ...


class OnlineMiner(ABC):
    """Mines inside one batch; returns batch-local index tensors (a, p, n)."""

    name: str = "online"

    def __init__(self) -> None:
        self.stats: dict[str, float] = {}

    def check_data(self, n_points: int) -> None:
        """Refuse, naming the parameter, a configuration the training set cannot serve (before training)."""

    def reference(self, embeddings: torch.Tensor) -> torch.Tensor:
        """What the positives and negatives of the last ``mine`` index: the batch itself, by default."""
        return embeddings

    def state_dict(self) -> dict[str, object]:
        return {}

    def load_state_dict(self, state: dict[str, object]) -> None:
        pass

    @abstractmethod
    def mine(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...
