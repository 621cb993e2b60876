"""The shared index module's auto choice and IVF centroid reuse; smart mining's exact positives and list recall."""

from __future__ import annotations

import numpy as np
import pytest

from smartmining.errors import SmartMiningError
from smartmining.mining import SmartMiner
from smartmining.mining.lists import class_mates, first_positive_and_negative, merge_positives
from smartmining.neighbours import AUTO_EXACT_BELOW, build_index, knn_search, resolve_kind, search, train_centroids


def clustered(n_classes, per_class, seed, spread=0.5, d=8):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, d))
    labels = np.repeat(np.arange(n_classes), per_class)
    x = centres[labels] + spread * rng.standard_normal((len(labels), d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_auto_is_exact_below_the_threshold_and_ivf_above():
    assert resolve_kind("auto", AUTO_EXACT_BELOW - 1) == "flat"
    assert resolve_kind("auto", AUTO_EXACT_BELOW) == "ivf"
    assert resolve_kind("hnsw", 10) == "hnsw"
    with pytest.raises(SmartMiningError, match="index kind"):
        resolve_kind("annoy", 10)


def test_ivf_with_given_centroids_finds_the_exact_lists_when_probing_every_list():
    x, _ = clustered(10, 20, seed=0)
    centroids = train_centroids(x, {"nlist": 8}, seed=1)
    assert centroids.shape == (8, x.shape[1])
    index = build_index(x, "ivf", {"nlist": 8, "nprobe": 8}, centroids=centroids)
    ids, sq = search(index, x, 10, np.arange(len(x)))
    want_ids, want_sq = knn_search(x, k=10)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(sq, want_sq, atol=1e-5)
    with pytest.raises(SmartMiningError, match="centroids"):
        build_index(x, "ivf", centroids=centroids[:, :3])


def test_class_mates_are_every_other_member_nearest_first():
    x, labels = clustered(4, 6, seed=2)
    labels = np.append(labels, [4, 4, 4, 5])[: len(x)]  # varied class sizes
    anchors = np.array([0, 7, 23, 5])
    ids, sq = class_mates(x, labels, anchors)
    for row, a in enumerate(anchors):
        mates = [j for j in range(len(x)) if labels[j] == labels[a] and j != a]
        d = ((x[mates] - x[a]) ** 2).sum(1)
        assert ids[row][ids[row] >= 0].tolist() == [mates[i] for i in np.argsort(d, kind="stable")]
        np.testing.assert_allclose(np.sort(d), sq[row][: len(mates)], atol=1e-6)
        assert (ids[row][len(mates):] == -1).all() and np.isinf(sq[row][len(mates):]).all()


def test_merge_replaces_list_positives_by_exact_class_mates_within_the_radius():
    labels = np.array([0, 0, 0, 1, 1, 1, 0])
    anchors = np.array([0])
    # The index missed positive 6 (distance 0.2) and listed positive 1 at a wrong distance.
    ids, sq = np.array([[3, 1, 4, 5]]), np.array([[0.1, 0.3, 0.4, 0.5]], dtype=np.float32)
    mate_ids, mate_sq = np.array([[6, 1, 2]]), np.array([[0.2, 0.25, 0.9]], dtype=np.float32)
    got_ids, got_sq = merge_positives(labels, anchors, ids, sq, mate_ids, mate_sq)
    assert got_ids.tolist() == [[3, 6, 1, 4, 5]]  # 2 lies past the list's last entry (0.5): outside S_a
    np.testing.assert_allclose(got_sq, [[0.1, 0.2, 0.25, 0.4, 0.5]])
    # A row without exact class-mates (a class over MAX_EXACT_CLASS) keeps its list.
    same_ids, _ = merge_positives(labels, anchors, ids, sq, np.array([[-1]]), np.array([[np.inf]], np.float32))
    assert same_ids.tolist() == ids.tolist()


def test_first_positive_and_negative_follow_the_exclusion_boundary():
    labels = np.array([0, 1, 0, 1, 1, 0])
    ids = np.array([[1, 2, 3, 4, 5]])
    sq = np.array([[0.1, 0.2, 0.3, 0.5, 0.6]], dtype=np.float32)
    p1, n1 = first_positive_and_negative(labels, np.array([0]), ids, sq, kappa=2.0)
    assert p1.tolist() == [2] and n1.tolist() == [4]  # 3 lies inside 2 * 0.2
    p1, n1 = first_positive_and_negative(labels, np.array([0]), ids, sq, kappa=4.0)
    assert p1.tolist() == [2] and n1.tolist() == [-1]


def test_ivf_miner_reuses_centroids_reports_recalls_and_retrains_after_a_drop():
    x, labels = clustered(30, 20, seed=3, spread=0.6)
    anchors = np.arange(len(x))
    miner = SmartMiner(kappa=1.0, k=20, index="ivf", index_params={"nlist": 6, "nprobe": 2}, recall_sample=200)
    miner.mine(x, labels, anchors, np.random.default_rng(0))
    first = dict(miner.stats)
    assert first["index"] == "ivf" and first["index_trained"] == 1.0
    assert first["p1_recall"] == 1.0  # exact positives
    assert first["index_p1_recall"] <= 1.0 and 0.0 < first["index_recall"] < 1.0
    miner.mine(x, labels, anchors, np.random.default_rng(0))
    assert miner.stats["index_trained"] == 0.0 and miner.stats["index_recall"] == first["index_recall"]
    miner._index.trained_recall = 1.0 + miner._index.retrain_drop + 0.01  # as if the recall had fallen since training
    miner.mine(x, labels, anchors, np.random.default_rng(0))
    miner.mine(x, labels, anchors, np.random.default_rng(0))
    assert miner.stats["index_trained"] == 1.0


def test_exact_positives_off_leaves_the_bare_index_lists():
    x, labels = clustered(30, 20, seed=4, spread=0.6)
    anchors = np.arange(len(x))
    params = {"nlist": 8, "nprobe": 1}
    on = SmartMiner(kappa=1.0, k=10, index="ivf", index_params=params, recall_sample=300)
    off = SmartMiner(kappa=1.0, k=10, index="ivf", index_params=params, recall_sample=300, exact_positives=False)
    on.mine(x, labels, anchors, np.random.default_rng(0))
    off.mine(x, labels, anchors, np.random.default_rng(0))
    assert on.stats["p1_recall"] == 1.0
    # Without: the lists' p1 is the bare index's, except where growing k (no positive listed) found it.
    assert off.stats["index_p1_recall"] <= off.stats["p1_recall"] < 1.0


def test_auto_miner_is_exact_at_small_n():
    x, labels = clustered(10, 10, seed=5)
    miner = SmartMiner(kappa=1.0, k=10, index="auto", index_params={"nprobe": 4}, recall_sample=50)
    miner.mine(x, labels, np.arange(len(x)), np.random.default_rng(0))
    assert miner.stats["index"] == "flat"
    assert miner.stats["index_recall"] == miner.stats["p1_recall"] == miner.stats["n1_recall"] == 1.0
