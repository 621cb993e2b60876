"""An epoch's triplets laid out in batches: mined and random triplets mixed at a fixed fraction per batch."""

from __future__ import annotations

import numpy as np

from smartmining.mining.base import Triplets


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
