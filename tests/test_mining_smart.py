"""Smart mining (Algorithm 1) against a literal per-anchor transcription, plus SmartMiner end to end."""

from __future__ import annotations

import numpy as np
import pytest

from smartmining.errors import SmartMiningError
from smartmining.neighbours import build_index, index_recall, search
from smartmining.mining.smart import SmartMiner, smart_triplets


def literal_algorithm_1(labels, anchor, ids, sqdist, kappa, n_per_anchor):
    """PAPER.md section 4 in plain loops. Returns per triplet ("mined", p, n) / ("outside", n) / ("random", why)."""
    S = [(int(j), float(d)) for j, d in zip(ids, sqdist) if j >= 0 and j != anchor]
    p1 = None
    for pos_in_list, (j, d) in enumerate(S):
        if labels[j] == labels[anchor]:
            p1 = pos_in_list
            break
    if p1 is None:
        return [("random", "no_positive_in_list")] * n_per_anchor
    boundary = kappa * S[p1][1]
    neg, pos = [], []
    for j, d in S[p1 + 1 :]:
        if not d > boundary:
            continue
        if labels[j] == labels[anchor]:
            pos.append((j, list(neg)))
        else:
            neg.append(j)
    used = set()
    out = []
    for _ in range(n_per_anchor):
        unused = [j for j in neg if j not in used]
        if not unused:
            out.append(("random", "empty_neg"))
            continue
        n = unused[0]
        chosen = None
        for p, valid_range in pos:
            if n in valid_range:
                chosen = p
                break
        out.append(("mined", chosen, n) if chosen is not None else ("outside", n))
        used.add(n)
    return out


def assert_matches_literal(labels, anchors, ids, sq, kappa, n_per_anchor, seed=0):
    triplets, stats = smart_triplets(None, labels, anchors, ids, sq, kappa, np.random.default_rng(seed), n_per_anchor)
    assert len(triplets) == len(anchors) * n_per_anchor
    counts = {"random": 0, "outside": 0, "mined": 0}
    for i, a in enumerate(anchors):
        expected = literal_algorithm_1(labels, a, ids[i], sq[i], kappa, n_per_anchor)
        listed = set(ids[i].tolist()) | {a}
        for t, exp in enumerate(expected):
            j = i * n_per_anchor + t
            got_a, got_p, got_n = triplets.anchors[j], triplets.positives[j], triplets.negatives[j]
            assert got_a == a
            assert labels[got_p] == labels[a] and got_p != a and labels[got_n] != labels[a]
            counts[exp[0]] += 1
            if exp[0] == "random":
                assert triplets.is_random[j]
            elif exp[0] == "mined":
                assert not triplets.is_random[j] and (got_p, got_n) == (exp[1], exp[2])
            else:  # outside-list positive: n fixed, p a class member not in the list
                assert not triplets.is_random[j] and got_n == exp[1] and got_p not in listed
    assert stats["random_fallbacks"] == counts["random"]
    assert stats["outside_positives"] == counts["outside"]
    return triplets, stats


# Hand-made lists. Labels: anchor 0 is class 0; class 0 = {0, 1, 2, 3, 4, 10}, others are negatives.
LABELS = np.array([0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 0, 3, 1])


def test_boundary_skips_neighbours_inside_it():
    # p1 = 1 at sq 1.0, kappa 4 -> boundary 4.0: 5 (3.0) and 2 (4.0, not strictly beyond) are skipped.
    ids = np.array([[6, 1, 5, 2, 7, 3, 8]])
    sq = np.array([[0.5, 1.0, 3.0, 4.0, 5.0, 6.0, 7.0]], dtype=np.float32)
    triplets, stats = assert_matches_literal(LABELS, np.array([0]), ids, sq, kappa=4.0, n_per_anchor=1)
    assert (triplets.positives[0], triplets.negatives[0]) == (3, 7)
    assert stats["mean_neg_len"] == 2 and stats["mean_pos_len"] == 1
    # With kappa 1 the boundary is p1 itself: negative 5 becomes the first one.
    triplets, _ = assert_matches_literal(LABELS, np.array([0]), ids, sq, kappa=1.0, n_per_anchor=1)
    assert (triplets.positives[0], triplets.negatives[0]) == (2, 5)


def test_valid_range_picks_softest_positive_farther_than_each_negative():
    # After p1 = 1: neg 5, pos 2 (range {5}), neg 6, neg 7, pos 3 (range {5,6,7}), neg 8.
    ids = np.array([[1, 5, 2, 6, 7, 3, 8]])
    sq = np.arange(1, 8, dtype=np.float32)[None] * 0.1
    triplets, stats = assert_matches_literal(LABELS, np.array([0]), ids, sq, kappa=1.0, n_per_anchor=5)
    pairs = list(zip(triplets.positives[:3], triplets.negatives[:3]))
    assert pairs == [(2, 5), (3, 6), (3, 7)]
    assert triplets.negatives[3] == 8 and triplets.positives[3] not in ids[0]  # outside positive (4 or 10)
    assert triplets.is_random[4] and stats["empty_neg"] == 1  # the 4 negatives are used up
    assert stats["outside_positives"] == 1


def test_empty_negative_list_gives_random_triplet():
    ids = np.array([[5, 1, 2, 6]])  # every negative before p1 or inside the boundary
    sq = np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    triplets, stats = assert_matches_literal(LABELS, np.array([0]), ids, sq, kappa=4.0, n_per_anchor=1)
    assert triplets.is_random[0] and stats["empty_neg"] == 1


def test_list_without_positive_falls_back_to_random_and_counts_it():
    ids = np.array([[5, 6, 7, 8]])
    sq = np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    triplets, stats = assert_matches_literal(LABELS, np.array([0]), ids, sq, kappa=1.0, n_per_anchor=2)
    assert triplets.is_random.all() and stats["no_positive_in_list"] == 2


def test_outside_positive_drawn_from_class_members_not_listed():
    ids = np.array([[1, 5, 6]])
    sq = np.array([[0.1, 0.2, 0.3]], dtype=np.float32)
    drawn = set()
    for seed in range(40):
        triplets, stats = assert_matches_literal(LABELS, np.array([0]), ids, sq, 1.0, 1, seed=seed)
        drawn.add(int(triplets.positives[0]))
    assert drawn == {2, 3, 4, 10} and stats["outside_positives"] == 1


def test_no_class_member_outside_the_list_gives_random_triplet():
    labels = np.array([0, 0, 1, 1])
    ids = np.array([[1, 2, 3]])  # the only other class-0 point is p1: no positive can follow n
    sq = np.array([[0.1, 0.2, 0.3]], dtype=np.float32)
    triplets, stats = smart_triplets(None, labels, np.array([0]), ids, sq, 1.0, np.random.default_rng(0))
    assert triplets.is_random[0] and stats["no_outside_positive"] == 1 and stats["outside_positives"] == 0


def test_ignores_missing_ids_and_the_anchor_itself():
    ids = np.array([[0, 1, -1, 5, 2]])
    sq = np.array([[0.0, 0.1, np.inf, 0.3, 0.4]], dtype=np.float32)
    triplets, _ = assert_matches_literal(LABELS, np.array([0]), ids, sq, kappa=1.0, n_per_anchor=1)
    assert (triplets.positives[0], triplets.negatives[0]) == (2, 5)


def exact_lists(x, k):
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    ids = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(d2, ids, 1).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kappa", [1.0, 2.0, 4.0])
def test_random_data_matches_literal_and_mined_triplets_have_positive_ratio_loss(seed, kappa):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, 60)
    x = rng.standard_normal((60, 2))
    ids, sq = exact_lists(x, 25)
    anchors = np.arange(60)
    triplets, _ = assert_matches_literal(labels, anchors, ids, sq, kappa, n_per_anchor=3, seed=seed)
    mined = ~triplets.is_random
    assert mined.sum() > 30
    d_ap = np.linalg.norm(x[triplets.anchors] - x[triplets.positives], axis=1)[mined]
    d_an = np.linalg.norm(x[triplets.anchors] - x[triplets.negatives], axis=1)[mined]
    assert (d_an < d_ap).all()
    ratio_loss = np.maximum(0.0, 1.0 - d_an / (d_ap + 0.2))
    assert (ratio_loss > 0).all()


def test_rows_may_be_given_per_point():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 30)
    ids, sq = exact_lists(rng.standard_normal((30, 2)), 10)
    anchors = np.array([4, 9, 17])
    per_anchor, _ = smart_triplets(None, labels, anchors, ids[anchors], sq[anchors], 1.0, np.random.default_rng(0))
    per_point, _ = smart_triplets(None, labels, anchors, ids, sq, 1.0, np.random.default_rng(0))
    assert np.array_equal(per_anchor.negatives, per_point.negatives)
    assert np.array_equal(per_anchor.positives, per_point.positives)


def test_bad_inputs_raise():
    ids = np.array([[1, 5]])
    sq = np.array([[0.1, 0.2]], dtype=np.float32)
    with pytest.raises(SmartMiningError, match="kappa"):
        smart_triplets(None, LABELS, np.array([0]), ids, sq, -1.0, np.random.default_rng(0))
    with pytest.raises(SmartMiningError, match="nbr_sqdist"):
        smart_triplets(None, LABELS, np.array([0]), ids, sq[:, :1], 1.0, np.random.default_rng(0))
    with pytest.raises(SmartMiningError, match="n_per_anchor"):
        smart_triplets(None, LABELS, np.array([0]), ids, sq, 1.0, np.random.default_rng(0), 0)


def clustered(n_classes, per_class, seed, spread=0.35):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, 8))
    labels = np.repeat(np.arange(n_classes), per_class)
    x = centres[labels] + spread * rng.standard_normal((len(labels), 8))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_smart_miner_end_to_end_grows_k_where_a_list_has_no_positive(kind):
    x, labels = clustered(20, 15, seed=0, spread=0.6)
    # Class 20: two points, one inside cluster 0 and one inside cluster 1; neither lists the other at k = 20.
    x = np.vstack([x, x[0] * 0.999 + 0.001, x[15] * 0.999 + 0.001]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.append(labels, [20, 20])
    anchors = np.arange(len(labels))
    miner = SmartMiner(kappa=1.0, k=20, index=kind, recall_sample=50)
    triplets = miner.mine(x, labels, anchors, np.random.default_rng(0))
    assert len(triplets) == len(anchors) and np.array_equal(triplets.anchors, anchors)
    assert miner.stats["grown_anchors"] >= 2  # the two class-20 points sit among other classes
    assert miner.stats["max_k_used"] > 20
    assert miner.stats["no_positive_in_list"] == 0  # growth found a positive for every anchor
    assert miner.stats["index"] == kind and miner.stats["kappa"] == 1.0
    if kind == "flat":
        assert miner.stats["index_recall"] == 1.0
    else:
        assert 0.5 < miner.stats["index_recall"] <= 1.0
    ok = ~triplets.is_random
    assert ok.sum() > len(anchors) // 2
    assert (labels[triplets.positives] == labels[triplets.anchors]).all()
    assert (labels[triplets.negatives] != labels[triplets.anchors]).all()
    if kind == "flat":  # exact lists: every mined triplet has d(a,n) < d(a,p)
        d_ap = np.linalg.norm(x[triplets.anchors] - x[triplets.positives], axis=1)[ok]
        d_an = np.linalg.norm(x[triplets.anchors] - x[triplets.negatives], axis=1)[ok]
        assert (d_an < d_ap + 1e-6).all()
    miner.kappa = 4.0  # settable per epoch
    miner.mine(x, labels, anchors, np.random.default_rng(0))
    assert miner.stats["kappa"] == 4.0


def test_smart_miner_matches_smart_triplets_on_exact_lists():
    x, labels = clustered(6, 10, seed=1)
    anchors = np.arange(len(labels))
    miner = SmartMiner(kappa=2.0, k=20, index="flat", recall_sample=0)
    got = miner.mine(x, labels, anchors, np.random.default_rng(5))
    index = build_index(x, "flat")
    ids, sq = search(index, x, 20, anchors)
    expected, _ = smart_triplets(None, labels, anchors, ids, sq, 2.0, np.random.default_rng(5))
    assert np.array_equal(got.negatives, expected.negatives)
    assert np.array_equal(got.is_random, expected.is_random)
    assert np.isnan(miner.stats["index_recall"])


def test_index_search_excludes_self_and_validates():
    x, _ = clustered(4, 10, seed=2)
    n = len(x)
    for kind in ("flat", "hnsw", "ivf"):
        index = build_index(x, kind, {"nprobe": 64} if kind == "ivf" else None)
        ids, sq = search(index, x, 5, np.arange(n))
        assert ids.shape == (n, 5) and not (ids == np.arange(n)[:, None]).any()
        assert (np.diff(sq, axis=1) >= 0).all()
    exact, _ = exact_lists(x.astype(np.float64), 5)
    flat_ids, _ = search(build_index(x, "flat"), x, 5, np.arange(n))
    assert index_recall(flat_ids, exact) == 1.0
    assert index_recall(np.array([[1, 2, -1]]), np.array([[1, 3, 4]])) == pytest.approx(1 / 3)
    with pytest.raises(SmartMiningError, match="k must be in"):
        search(build_index(x, "flat"), x, n, np.arange(n))
    with pytest.raises(SmartMiningError, match="kind"):
        build_index(x, "annoy")
    with pytest.raises(SmartMiningError, match="index_params"):
        build_index(x, "hnsw", {"nprobe": 3})
    with pytest.raises(SmartMiningError, match="index must be one of"):
        SmartMiner(index="fanng")
    with pytest.raises(SmartMiningError, match="max_k"):
        SmartMiner(k=10, max_k=5)


def test_max_k_caps_growth_and_leaves_random_fallbacks():
    x, labels = clustered(10, 10, seed=3, spread=0.6)
    x = np.vstack([x, x[0] * 0.999 + 0.001, x[15] * 0.999 + 0.001]).astype(np.float32)
    labels = np.append(labels, [10, 10])
    miner = SmartMiner(kappa=1.0, k=4, max_k=8, index="flat", recall_sample=0)
    triplets = miner.mine(x, labels, np.arange(len(labels)), np.random.default_rng(0))
    assert miner.stats["max_k_used"] == 8 and miner.stats["no_positive_in_list"] >= 2
    assert triplets.is_random[-2:].all()
