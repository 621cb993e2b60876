"""Random triplets: a uniform positive of the anchor's class (not the anchor) and a uniform negative."""

from __future__ import annotations

import numpy as np

from smartmining.errors import SmartMiningError
from smartmining.mining.base import OfflineMiner, Triplets, check_offline_inputs


class ClassBlocks:
    """Points grouped by class: ``order`` lists point ids class by class; class c's block starts at ``start[c]``."""

    def __init__(self, labels: np.ndarray) -> None:
        self.order = np.argsort(labels, kind="stable")
        classes, first, counts = np.unique(labels[self.order], return_index=True, return_counts=True)
        self.classes = classes
        self.n_points = len(labels)
        # Per point: its class's block start and size, and its own position in ``order``.
        cls_of = np.searchsorted(classes, labels)
        self.start = first[cls_of]
        self.size = counts[cls_of]
        self.position = np.empty(len(labels), dtype=np.int64)
        self.position[self.order] = np.arange(len(labels))


def valid_anchors(labels: np.ndarray) -> np.ndarray:
    """Indices of the points that can anchor a triplet: their class has another member and another class exists."""
    _, labels, _ = check_offline_inputs(None, labels, np.zeros(0, dtype=np.int64))
    blocks = ClassBlocks(labels)
    if len(blocks.classes) < 2:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(blocks.size >= 2)


def random_triplets(labels: np.ndarray, anchors: np.ndarray, rng: np.random.Generator) -> Triplets:
    """One random triplet per anchor (in order), all flagged ``is_random``.

    Anchors whose class has a single member raise SmartMiningError; filter them with ``valid_anchors``.
    """
    _, labels, anchors = check_offline_inputs(None, labels, anchors)
    if anchors.size == 0:
        return Triplets.empty()
    blocks = ClassBlocks(labels)
    size = blocks.size[anchors]
    if (size < 2).any():
        bad = anchors[size < 2][:5].tolist()
        raise SmartMiningError(f"anchors {bad} have no positive (their class has a single member); filter with valid_anchors")
    if (size == blocks.n_points).any():
        raise SmartMiningError("labels hold a single class: no negative exists for any anchor")
    start = blocks.start[anchors]
    # Positive: uniform over the class block without the anchor's own slot.
    r = rng.integers(0, size - 1)
    own = blocks.position[anchors] - start
    positives = blocks.order[start + r + (r >= own)]
    # Negative: uniform over all slots outside the anchor's class block.
    r = rng.integers(0, blocks.n_points - size)
    negatives = blocks.order[r + np.where(r >= start, size, 0)]
    return Triplets(anchors, positives, negatives, np.ones(len(anchors), dtype=bool))


class RandomMiner(OfflineMiner):
    """Random triplets, ignoring the embedding (epochs 1-2 and the random share of each batch)."""

    name = "random"
    needs_embedding = False

    def mine(
        self, embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
    ) -> Triplets:
        triplets = random_triplets(labels, anchors, rng)
        self.stats = {"n_triplets": float(len(triplets))}
        return triplets
