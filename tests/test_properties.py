"""Property tests: miners and metrics over random sizes, labels and embeddings (hypothesis).

Invariants checked for every miner: a != p, label(a) == label(p) != label(n). For the metrics: values in
[0, 1], Recall@K non-decreasing in K, and invariance under a joint permutation of rows and labels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import normalized_mutual_info_score

from smartmining.evaluation.metrics import evaluate, nmi, recall_at_k
from smartmining.neighbours import knn_search
from smartmining.mining.hard import hard_triplets
from smartmining.mining.random import random_triplets, valid_anchors
from smartmining.mining.semihard import semihard_triplets
from smartmining.mining.smart import SmartMiner, smart_triplets

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def labelled_points(draw: st.DrawFn, max_classes: int = 6, max_per_class: int = 6, tie_free: bool = False):
    """(embeddings float32 (N, d), labels int64 (N,)): >= 2 classes, singleton classes allowed, rows shuffled.

    ``tie_free``: continuous Gaussian coordinates (ties have probability 0); otherwise hypothesis draws
    the coordinates, so duplicate points and tied distances do occur.
    """
    sizes = draw(st.lists(st.integers(1, max_per_class), min_size=2, max_size=max_classes))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    labels = labels[np.asarray(draw(st.permutations(range(len(labels)))), dtype=np.int64)]
    d = draw(st.integers(1, 6))
    if tie_free:
        seed = draw(st.integers(0, 2**32 - 1))
        x = np.random.default_rng(seed).normal(size=(len(labels), d)).astype(np.float32)
    else:
        x = draw(arrays(np.float32, (len(labels), d),
                        elements=st.floats(-100, 100, width=32, allow_subnormal=False)))
    return x, labels.astype(np.int64)


def assert_valid_triplets(labels: np.ndarray, a: np.ndarray, p: np.ndarray, n: np.ndarray) -> None:
    a, p, n = (np.asarray(v) for v in (a, p, n))
    assert a.shape == p.shape == n.shape
    assert (a != p).all(), "a positive is its own anchor"
    assert (labels[a] == labels[p]).all(), "a positive of another class"
    assert (labels[a] != labels[n]).all(), "a negative of the anchor's class"


# --- miners ----------------------------------------------------------------------------------------


@FEW
@given(labelled_points(), st.integers(0, 2**32 - 1))
def test_random_triplets_are_valid(points, seed: int) -> None:
    _, labels = points
    anchors = valid_anchors(labels)
    triplets = random_triplets(labels, anchors, np.random.default_rng(seed))
    assert np.array_equal(triplets.anchors, anchors) and triplets.is_random.all()
    assert_valid_triplets(labels, triplets.anchors, triplets.positives, triplets.negatives)


@FEW
@given(labelled_points())
def test_hard_triplets_are_valid_and_extreme(points) -> None:
    x, labels = points
    anchors = valid_anchors(labels)
    triplets = hard_triplets(x, labels, anchors, chunk_size=3)
    assert np.array_equal(triplets.anchors, anchors)
    assert_valid_triplets(labels, triplets.anchors, triplets.positives, triplets.negatives)
    # Oracle in float64 loops: no other positive is clearly farther, no negative clearly nearer.
    x64 = x.astype(np.float64)
    for a, p, n in zip(triplets.anchors, triplets.positives, triplets.negatives):
        d2 = ((x64 - x64[a]) ** 2).sum(1)
        tol = 1e-4 * (1.0 + d2.max())  # float32 matmul distances
        others = [j for j in range(len(labels)) if j != a and labels[j] == labels[a]]
        assert d2[p] >= max(d2[j] for j in others) - tol
        assert d2[n] <= min(d2[labels != labels[a]]) + tol


@FEW
@given(labelled_points(), st.data())
def test_smart_triplets_on_exact_lists_are_valid(points, data: st.DataObject) -> None:
    x, labels = points
    anchors = valid_anchors(labels)
    k = data.draw(st.integers(1, len(labels) - 1), label="k")
    kappa = data.draw(st.floats(0, 50), label="kappa")
    n_per_anchor = data.draw(st.integers(1, 3), label="n_per_anchor")
    ids, sqdist = knn_search(x, None, k, exclude_self=True)
    triplets, stats = smart_triplets(None, labels, anchors, ids, sqdist, kappa,
                                     np.random.default_rng(data.draw(st.integers(0, 99))), n_per_anchor)
    assert len(triplets) == len(anchors) * n_per_anchor
    assert np.array_equal(triplets.anchors, np.repeat(anchors, n_per_anchor))
    assert_valid_triplets(labels, triplets.anchors, triplets.positives, triplets.negatives)
    assert stats["random_fallbacks"] == triplets.is_random.sum()


@FEW
@given(labelled_points(), st.integers(1, 8), st.floats(0, 50), st.integers(0, 99))
def test_smart_miner_with_flat_index_is_valid(points, k: int, kappa: float, seed: int) -> None:
    x, labels = points
    anchors = valid_anchors(labels)
    miner = SmartMiner(kappa=kappa, k=k, index="flat", recall_sample=4)
    triplets = miner.mine(x, labels, anchors, np.random.default_rng(seed))
    assert np.array_equal(triplets.anchors, anchors)
    assert_valid_triplets(labels, triplets.anchors, triplets.positives, triplets.negatives)


@FEW
@given(labelled_points(max_per_class=4), st.floats(0, 2), st.sampled_from(["tf", "hardest"]))
def test_semihard_triplets_are_valid(points, margin: float, fallback: str) -> None:
    x, labels = points
    a, p, n = semihard_triplets(torch.from_numpy(x), torch.from_numpy(labels), margin, fallback)
    assert_valid_triplets(labels, a.numpy(), p.numpy(), n.numpy())
    # Every anchor-positive pair whose anchor has a negative in the batch appears exactly once.
    expected = sorted((i, j) for i in range(len(labels)) for j in range(len(labels))
                      if i != j and labels[i] == labels[j] and len(np.unique(labels)) > 1)
    assert sorted(zip(a.tolist(), p.tolist())) == expected


# --- metrics ---------------------------------------------------------------------------------------


def has_answerable_query(labels: np.ndarray) -> bool:
    return bool((np.bincount(labels) >= 2).any())


def distinct_neighbour_distances(x: np.ndarray) -> bool:
    """Every row's distances to the others differ by more than float32 rounding: neighbour order is unique."""
    x64 = x.astype(np.float64)
    d2 = ((x64[:, None, :] - x64[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    gaps = np.diff(np.sort(d2, axis=1)[:, :-1], axis=1)
    return bool(gaps.size == 0 or gaps.min() > 1e-4 * (1.0 + d2[np.isfinite(d2)].max()))


@FEW
@given(labelled_points(tie_free=True))
def test_metrics_lie_in_unit_interval_and_recall_grows_with_k(points) -> None:
    x, labels = points
    assume(has_answerable_query(labels))
    ks = tuple(range(1, len(labels)))
    result = evaluate(x, labels, ks=ks)
    assert set(result) == {f"recall@{k}" for k in ks} | {"nmi", "map@r", "r_precision"}
    assert all(0.0 <= v <= 1.0 for v in result.values()), result
    recalls = [result[f"recall@{k}"] for k in ks]
    assert recalls == sorted(recalls)
    assert recalls[-1] == 1.0  # with K = N - 1 every answerable query sees its whole class
    # MAP@R weighs each hit within R by the precision there (<= 1); R-precision counts each hit as 1.
    assert result["map@r"] <= result["r_precision"] + 1e-12


@FEW
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    arrays(np.int64, n, elements=st.integers(0, 4)), arrays(np.int64, n, elements=st.integers(0, 4)))),
    st.integers(1, 6))
def test_recall_at_k_is_monotone_for_any_neighbour_labels(pair, width: int) -> None:
    nbr_first, labels = pair
    assume(has_answerable_query(labels))
    # Arbitrary neighbour label lists (not even from a real search): monotonicity is a counting fact.
    nbr = np.stack([np.roll(nbr_first, s) for s in range(width)], axis=1)
    recalls = list(recall_at_k(nbr, labels, range(1, width + 1)).values())
    assert recalls == sorted(recalls) and all(0.0 <= r <= 1.0 for r in recalls)


@FEW
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    arrays(np.int64, n, elements=st.integers(0, 5)), arrays(np.int64, n, elements=st.integers(-3, 3)),
    st.permutations(range(n)))))
def test_nmi_in_unit_interval_symmetric_and_permutation_invariant(triple) -> None:
    clusters, labels, perm = triple
    perm = np.asarray(perm, dtype=np.int64)
    value = nmi(clusters, labels)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(normalized_mutual_info_score(labels, clusters), abs=1e-9)
    assert nmi(clusters[perm], labels[perm]) == pytest.approx(value, abs=1e-12)
    assert nmi(labels, clusters) == pytest.approx(value, abs=1e-12)
    assert nmi(clusters * 7 + 1, labels) == pytest.approx(value, abs=1e-12)  # names of clusters do not matter


@FEW
@given(labelled_points(tie_free=True), st.randoms(use_true_random=False))
def test_retrieval_metrics_are_invariant_to_a_joint_row_permutation(points, random) -> None:
    x, labels = points
    assume(has_answerable_query(labels))
    assume(distinct_neighbour_distances(x))
    perm = np.array(random.sample(range(len(labels)), len(labels)))
    names = ("recall", "map@r", "r_precision")
    ks = (1, 2, 4)
    ks = tuple(k for k in ks if k < len(labels))
    before = evaluate(x, labels, ks=ks, metrics=names)
    after = evaluate(x[perm], labels[perm], ks=ks, metrics=names)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == pytest.approx(before[name], abs=1e-12), name
