"""Exhaustive hard mining (PAPER.md eqs. 4-5): the farthest positive and nearest negative over the whole set.

This is the O(N^2) baseline smart mining avoids; anchors are processed in chunks so memory is O(N x chunk).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from smartmining.checks import check_int
from smartmining.errors import SmartMiningError
from smartmining.mining.base import OfflineMiner, Triplets, check_offline_inputs
from smartmining.mining.random import ClassBlocks


def hard_triplets(embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray, chunk_size: int = 1024) -> Triplets:
    """Per anchor (in order): the farthest other member of its class and the nearest point of another class.

    Squared L2 distances from one matmul per chunk of anchors; ties go to the lowest index.
    """
    embeddings, labels, anchors = check_offline_inputs(embeddings, labels, anchors)
    check_int("chunk_size", chunk_size)
    blocks = ClassBlocks(labels)
    if anchors.size and (blocks.size[anchors] < 2).any():
        raise SmartMiningError("some anchors have no positive (single-member class); filter with valid_anchors")
    if anchors.size and (blocks.size[anchors] == len(labels)).any():
        raise SmartMiningError("labels hold a single class: no negative exists for any anchor")
    x = torch.from_numpy(embeddings)
    lab = torch.from_numpy(labels)
    sq_norm = (x * x).sum(1)
    positives = np.empty(len(anchors), dtype=np.int64)
    negatives = np.empty(len(anchors), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(anchors), chunk_size):
            rows = torch.from_numpy(anchors[start : start + chunk_size])
            # ||x||^2 - 2 a.x: the anchor's own ||a||^2 is constant along its row, so it cannot change the picks.
            d2 = torch.addmm(sq_norm.expand(len(rows), -1), x[rows], x.T, alpha=-2.0)
            same = lab[rows, None] == lab[None, :]
            stop = start + len(rows)
            negatives[start:stop] = d2.masked_fill(same, torch.inf).argmin(1).numpy()
            d2.masked_fill_(~same, -torch.inf)
            d2[torch.arange(len(rows)), rows] = -torch.inf
            positives[start:stop] = d2.argmax(1).numpy()
    return Triplets(anchors, positives, negatives, np.zeros(len(anchors), dtype=bool))


class HardMiner(OfflineMiner):
    """Exhaustive hard mining; stats: n_triplets, t_select (seconds)."""

    name = "hard"

    def __init__(self, chunk_size: int = 1024) -> None:
        super().__init__()
        self.chunk_size = chunk_size

    def mine(
        self, embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
    ) -> Triplets:
        t0 = time.perf_counter()
        triplets = hard_triplets(embeddings, labels, anchors, self.chunk_size)
        self.stats = {"n_triplets": float(len(triplets)), "t_select": time.perf_counter() - t0}
        return triplets
