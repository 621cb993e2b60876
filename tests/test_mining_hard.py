"""Exhaustive hard mining against a loop oracle over the whole set; chunking does not change the result."""

from __future__ import annotations

import numpy as np
import pytest

from smartmining.errors import SmartMiningError
from smartmining.mining.hard import HardMiner, hard_triplets


def oracle(x, labels, anchors):
    out = []
    for a in anchors:
        far_p, far_d, near_n, near_d = None, -1.0, None, np.inf
        for j in range(len(labels)):
            d = float(((x[a] - x[j]) ** 2).sum())
            if labels[j] == labels[a] and j != a and d > far_d:
                far_p, far_d = j, d
            if labels[j] != labels[a] and d < near_d:
                near_n, near_d = j, d
        out.append((a, far_p, near_n))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_oracle(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((50, 2)).astype(np.float32)
    labels = rng.integers(0, 5, 50)
    anchors = rng.permutation(50)[:30]
    t = hard_triplets(x, labels, anchors, chunk_size=7)
    assert list(zip(t.anchors, t.positives, t.negatives)) == oracle(x.astype(np.float64), labels, anchors)
    assert not t.is_random.any()


def test_chunked_equals_unchunked():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(0, 10, 200)
    anchors = np.arange(200)
    whole = hard_triplets(x, labels, anchors, chunk_size=10_000)
    for chunk in (1, 3):
        part = hard_triplets(x, labels, anchors, chunk_size=chunk)
        assert np.array_equal(part.positives, whole.positives) and np.array_equal(part.negatives, whole.negatives)


def test_miner_and_errors():
    x = np.eye(4, dtype=np.float32)
    labels = np.array([0, 0, 1, 2])
    miner = HardMiner(chunk_size=2)
    t = miner.mine(x, labels, np.array([0, 1]), np.random.default_rng(0))
    assert t.positives.tolist() == [1, 0] and miner.stats["n_triplets"] == 2
    with pytest.raises(SmartMiningError, match="valid_anchors"):
        hard_triplets(x, labels, np.array([2]))
    with pytest.raises(SmartMiningError, match="chunk_size"):
        hard_triplets(x, labels, np.array([0]), chunk_size=0)
    with pytest.raises(SmartMiningError, match="embeddings"):
        hard_triplets(x[:3], labels, np.array([0]))
