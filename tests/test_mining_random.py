"""Random triplets: label constraints, coverage, uniformity and seeded determinism."""

from __future__ import annotations

import numpy as np
import pytest

from smartmining.errors import SmartMiningError
from smartmining.mining.base import Triplets
from smartmining.mining.random import RandomMiner, random_triplets, valid_anchors

LABELS = np.array([3, 3, 1, 1, 1, 7, 2, 2, 3, 9])  # classes 7 and 9 have one member


def test_valid_anchors_drops_single_member_classes_and_single_class_sets():
    expected = [i for i in range(len(LABELS)) if (LABELS == LABELS[i]).sum() >= 2]
    assert valid_anchors(LABELS).tolist() == expected
    assert valid_anchors(np.array([4, 4, 4])).size == 0


def test_label_constraints_and_coverage():
    anchors = np.repeat(valid_anchors(LABELS), 50)
    t = random_triplets(LABELS, anchors, np.random.default_rng(0))
    assert np.array_equal(t.anchors, anchors) and t.is_random.all()
    assert (t.anchors != t.positives).all()
    assert (LABELS[t.anchors] == LABELS[t.positives]).all()
    assert (LABELS[t.anchors] != LABELS[t.negatives]).all()
    # Uniform support: each anchor reaches every other class member and every other-class point.
    for a in valid_anchors(LABELS):
        rows = t.anchors == a
        mates = {j for j in range(len(LABELS)) if LABELS[j] == LABELS[a] and j != a}
        others = {j for j in range(len(LABELS)) if LABELS[j] != LABELS[a]}
        assert set(t.positives[rows].tolist()) == mates
        assert set(t.negatives[rows].tolist()) == others


def test_seeded_determinism():
    anchors = valid_anchors(LABELS)
    one = random_triplets(LABELS, anchors, np.random.default_rng(7))
    two = random_triplets(LABELS, anchors, np.random.default_rng(7))
    other = random_triplets(LABELS, np.repeat(anchors, 5), np.random.default_rng(8))
    assert np.array_equal(one.positives, two.positives) and np.array_equal(one.negatives, two.negatives)
    assert len(other) == 5 * len(anchors)


def test_bad_anchors_raise():
    with pytest.raises(SmartMiningError, match="valid_anchors"):
        random_triplets(LABELS, np.array([5]), np.random.default_rng(0))
    with pytest.raises(SmartMiningError, match="single class"):
        random_triplets(np.array([1, 1]), np.array([0]), np.random.default_rng(0))
    with pytest.raises(SmartMiningError, match="anchors"):
        random_triplets(LABELS, np.array([10]), np.random.default_rng(0))


def test_miner_and_triplets_container():
    miner = RandomMiner()
    t = miner.mine(np.zeros((len(LABELS), 2), np.float32), LABELS, np.array([0, 2]), np.random.default_rng(0))
    assert miner.stats["n_triplets"] == 2
    both = Triplets.concat(t, t.subset(np.array([True, False])))
    assert len(both) == 3 and both.anchors.tolist() == [0, 2, 0] and both.is_random.all()
    assert len(Triplets.concat()) == 0
    plain = Triplets(np.array([1]), np.array([2]), np.array([3]))
    assert plain.anchors.dtype == np.int64 and not plain.is_random.any()
    with pytest.raises(SmartMiningError, match="same length"):
        Triplets(np.array([1, 2]), np.array([2]), np.array([3]))
