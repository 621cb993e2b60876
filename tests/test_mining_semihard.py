"""Semi-hard mining against an enumeration of the batch by loops; P x K batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smartmining.errors import SmartMiningError
from smartmining.mining.semihard import SemiHardMiner, pk_batches, semihard_triplets


def oracle(x, labels, margin, fallback):
    """The documented rule, pair by pair: returns {(a, p): (n, kind)}."""
    B = len(labels)
    d = [[float(np.linalg.norm(x[i] - x[j])) for j in range(B)] for i in range(B)]
    out = {}
    for a in range(B):
        for p in range(B):
            if p == a or labels[p] != labels[a]:
                continue
            negs = [n for n in range(B) if labels[n] != labels[a]]
            if not negs:
                continue
            semihard = [n for n in negs if d[a][p] < d[a][n] < d[a][p] + margin]
            farther = [n for n in negs if d[a][n] > d[a][p]]
            if semihard:
                out[a, p] = (min(semihard, key=lambda n: d[a][n]), "semihard")
            elif farther:
                out[a, p] = (min(farther, key=lambda n: d[a][n]), "easy")
            elif fallback == "tf":
                out[a, p] = (max(negs, key=lambda n: d[a][n]), "fallback")
            else:
                out[a, p] = (min(negs, key=lambda n: d[a][n]), "fallback")
    return out


@pytest.mark.parametrize("fallback", ["tf", "hardest"])
@pytest.mark.parametrize("seed", range(4))
def test_matches_enumeration(seed, fallback):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((12, 2))
    labels = rng.integers(0, 3, 12)
    expected = oracle(x, labels, 0.2, fallback)
    miner = SemiHardMiner(margin=0.2, fallback=fallback)
    a, p, n = miner.mine(torch.from_numpy(x), torch.from_numpy(labels))
    got = {(int(i), int(j)): int(k) for i, j, k in zip(a, p, n)}
    assert got == {pair: neg for pair, (neg, _) in expected.items()}
    kinds = [kind for _, kind in expected.values()]
    assert miner.stats["n_triplets"] == len(expected)
    assert miner.stats["frac_semihard"] == pytest.approx(kinds.count("semihard") / len(kinds))
    assert miner.stats["frac_fallback"] == pytest.approx(kinds.count("fallback") / len(kinds))


def test_each_case_of_the_rule():
    # 1-D points; anchor 0 at 0.0 with positive 1 at 0.5.
    def pick(points, labels, fallback="tf"):
        x = torch.tensor(points, dtype=torch.float64)[:, None]
        a, p, n = semihard_triplets(x, torch.tensor(labels), 0.2, fallback)
        return {(int(i), int(j)): int(k) for i, j, k in zip(a, p, n)}[0, 1]

    assert pick([0.0, 0.5, 0.6, 0.65, 0.3], [0, 0, 1, 1, 1]) == 2  # nearest semi-hard
    assert pick([0.0, 0.5, 0.9, 1.5, 0.3], [0, 0, 1, 1, 1]) == 2  # nearest farther, beyond the margin
    assert pick([0.0, 0.5, 0.1, 0.4, -0.2], [0, 0, 1, 1, 1]) == 3  # all closer: TF takes the farthest
    assert pick([0.0, 0.5, 0.1, 0.4, -0.2], [0, 0, 1, 1, 1], "hardest") == 2  # or the nearest


def test_single_class_batch_gives_no_triplets():
    a, p, n = semihard_triplets(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), 0.2)
    assert len(a) == len(p) == len(n) == 0
    with pytest.raises(SmartMiningError, match="fallback"):
        semihard_triplets(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), 0.2, "softest")


def test_pk_batches_cover_the_epoch_with_distinct_balanced_classes():
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate([9, 4, 6, 3, 1, 12, 8])])
    batches = pk_batches(labels, P=3, K=4, rng=rng)
    seen = np.concatenate(batches)
    for b in batches:
        classes, counts = np.unique(labels[b], return_counts=True)
        assert len(classes) == 3 and len(np.unique(b)) == len(b)  # distinct classes, no repeats
        assert all(c == 4 or c == (labels == k).sum() for k, c in zip(classes, counts))
    assert not (labels[seen] == 4).any()  # the single-image class cannot form a pair: skipped
    assert set(seen.tolist()) == set(np.flatnonzero(labels != 4).tolist())  # everything else, once at least
    again = pk_batches(labels, P=3, K=4, rng=np.random.default_rng(0))
    assert len(again) == len(batches) and all(np.array_equal(x, y) for x, y in zip(batches, again))
    lopsided = np.array([0] * 40 + [1] * 4 + [2] * 4)  # class 0 alone cannot fill batches: its excess is dropped
    assert len(pk_batches(lopsided, P=2, K=4, rng=rng)) == 2


def test_pk_batches_errors():
    labels = np.array([0, 0, 1, 1, 2])
    with pytest.raises(SmartMiningError, match=r"P = 3 \(train.semihard_classes\) exceeds"):
        pk_batches(labels, P=3, K=2, rng=np.random.default_rng(0))
    with pytest.raises(SmartMiningError, match=r"K \(train.semihard_per_class\) must be"):
        pk_batches(labels, P=2, K=1, rng=np.random.default_rng(0))
