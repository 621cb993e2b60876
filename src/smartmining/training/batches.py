"""An epoch's triplets laid out in batches: mined and random triplets mixed at a fixed fraction per batch.

``plan_epoch`` is the offline epoch of PAPER.md section 3 seen from the data's side (draw the epoch's
anchors, mine a share of them, fill the rest with random triplets, mix them per batch); our trainer and
``smartmining.sampler.SmartBatchSampler`` both call it, so there is one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smartmining.mining.base import Triplets
from smartmining.mining.random import random_triplets


def mixed_batches(mined: Triplets, random: Triplets, batch_size: int, rng: np.random.Generator) -> list[Triplets]:
    """Shuffle each kind, then give every batch the same share of mined triplets (PAPER.md section 3).

    Batch b takes the mined triplets [b*len(mined)/B, (b+1)*len(mined)/B) and likewise for the random
    ones, where B is the number of batches, so the mined fraction holds in each batch up to rounding.
    """
    total = len(mined) + len(random)
    if total == 0:
        return []
    n_batches = max(1, int(np.ceil(total / batch_size)))
    mined = mined.subset(rng.permutation(len(mined)))
    random = random.subset(rng.permutation(len(random)))
    cut_m = np.linspace(0, len(mined), n_batches + 1).round().astype(int)
    cut_r = np.linspace(0, len(random), n_batches + 1).round().astype(int)
    return [
        Triplets.concat(
            mined.subset(np.arange(cut_m[b], cut_m[b + 1])), random.subset(np.arange(cut_r[b], cut_r[b + 1]))
        )
        for b in range(n_batches)
    ]


@dataclass(frozen=True)
class EpochPlan:
    """The epoch's batches of (a, p, n) dataset indices, and the mined triplets among them."""

    batches: list[Triplets]
    mined: Triplets


def plan_epoch(
    labels: np.ndarray,
    anchor_pool: np.ndarray,
    n_triplets: int,
    mined_fraction: float,
    batch_size: int,
    rng: np.random.Generator,
    mine: Callable[[np.ndarray], Triplets] | None = None,
) -> EpochPlan:
    """Draw ``n_triplets`` anchors from ``anchor_pool`` (without replacement while the pool lasts), mine
    triplets for the first ``round(mined_fraction * n_triplets)`` of them with ``mine`` (anchors -> one
    triplet each; None: no mining this epoch, e.g. warm-up), random triplets for the rest, mixed per batch.
    """
    anchors = rng.choice(anchor_pool, size=n_triplets, replace=n_triplets > len(anchor_pool))
    n_mined = int(round(mined_fraction * n_triplets)) if mine is not None else 0
    mined = mine(anchors[:n_mined]) if n_mined else Triplets.empty()
    rand = random_triplets(labels, anchors[n_mined:], rng)
    return EpochPlan(mixed_batches(mined, rand, batch_size, rng), mined)
