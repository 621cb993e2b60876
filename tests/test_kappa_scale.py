"""The kappa scale against a per-anchor loop over the lists, and against Algorithm 1 itself (smart_triplets)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartmining.errors import SmartMiningError
from smartmining.mining.kappa_scale import QUANTILES, AnchorScale, anchor_scale, kappa_scale, summarize
from smartmining.mining.smart import smart_triplets


def random_lists(rng: np.random.Generator, n: int = 60, m: int = 40, k: int = 12, classes: int = 6):
    """Random unit embeddings, exact sorted lists for m anchors (some ids blanked to -1)."""
    emb = rng.normal(size=(n, 8))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = rng.integers(0, classes, n)
    anchors = rng.choice(n, m, replace=False)
    d2 = ((emb[anchors, None, :] - emb[None, :, :]) ** 2).sum(-1)
    d2[np.arange(m), anchors] = np.inf  # the anchor is not its own neighbour
    order = np.argsort(d2, axis=1, kind="stable")[:, :k]
    ids = order.astype(np.int64)
    sq = np.take_along_axis(d2, order, 1).astype(np.float32)
    blank = rng.random((m, k)) < 0.05
    ids[blank] = -1
    return labels, anchors, ids, sq


def brute_anchor(labels, anchor, ids, sq, kappa):
    """Per anchor in plain Python: (d2p1, kfirst, kmax, d2n1)."""
    entries = [(int(j), float(d)) for j, d in zip(ids, sq) if j >= 0 and j != anchor]
    p1 = next((i for i, (j, _) in enumerate(entries) if labels[j] == labels[anchor]), None)
    if p1 is None:
        return math.nan, math.nan, 0.0, math.nan
    d2p1 = entries[p1][1]
    negs = [d for j, d in entries[p1 + 1 :] if labels[j] != labels[anchor]]
    if not negs:
        return d2p1, math.nan, 0.0, math.nan
    qual = [d for d in negs if d > kappa * d2p1]
    return d2p1, negs[0] / d2p1, max(negs) / d2p1, (qual[0] if qual else math.nan)


@pytest.mark.parametrize("seed", range(5))
def test_per_anchor_arrays_match_a_loop(seed):
    rng = np.random.default_rng(seed)
    labels, anchors, ids, sq = random_lists(rng)
    kappa = float(rng.uniform(1.0, 3.0))
    got = anchor_scale(labels, anchors, ids, sq, kappa)
    want = np.array([brute_anchor(labels, a, ids[i], sq[i], kappa) for i, a in enumerate(anchors)])
    for col, name in enumerate(("d2p1", "kfirst", "kmax", "d2n1")):
        np.testing.assert_allclose(getattr(got, name), want[:, col], rtol=1e-6, equal_nan=True, err_msg=name)
    assert np.nanmin(got.kfirst) >= 1.0  # sorted lists: everything after p1 is at least as far


def brute_range(kmax, kfirst, share, floor_quantile):
    """kappa_hi: the largest listed kmax value c with mean(kmax >= c) >= share; kappa_lo: quantile of kfirst, >= 1."""
    ok = [c for c in np.unique(kmax) if np.mean(kmax >= c) >= share]
    hi = max(ok) if ok else 0.0
    finite = kfirst[np.isfinite(kfirst)]
    lo = max(1.0, float(np.quantile(finite, floor_quantile))) if finite.size else 1.0
    return lo, max(hi, lo)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("share", [0.25, 0.5, 0.8])
def test_range_and_quantiles_match_brute_force(seed, share):
    rng = np.random.default_rng(100 + seed)
    labels, anchors, ids, sq = random_lists(rng)
    per = anchor_scale(labels, anchors, ids, sq)
    scale = summarize(per, share=share)
    lo, hi = brute_range(per.kmax, per.kfirst, share, 0.05)
    assert scale.kappa_lo == pytest.approx(lo) and scale.kappa_hi == pytest.approx(hi)
    if not scale.degenerate:
        # just below kappa_hi at least `share` of the anchors still have a qualifying negative
        assert np.mean(per.kmax > scale.kappa_hi * (1 - 1e-9)) >= share
        assert scale.share_at_hi >= share
    finite = per.d2p1[np.isfinite(per.d2p1)]
    assert scale.d2p1_q == pytest.approx(tuple(np.quantile(finite, QUANTILES)))
    assert scale.share_with_positive == pytest.approx(np.isfinite(per.d2p1).mean())


@pytest.mark.parametrize("seed", range(4))
def test_share_at_kappa_is_algorithm_1s_share_of_anchors_with_a_negative(seed):
    rng = np.random.default_rng(200 + seed)
    labels, anchors, ids, sq = random_lists(rng, k=20)
    for kappa in (1.0, 1.3, 2.0, 4.0):
        scale = kappa_scale(labels, anchors, ids, sq, kappa=kappa)
        per = anchor_scale(labels, anchors, ids, sq, kappa)
        trip, stats = smart_triplets(None, labels, anchors, ids, sq, kappa, np.random.default_rng(0))
        no_negative = stats["empty_neg"] + stats["no_positive_in_list"]
        assert scale.share_at_kappa == pytest.approx(1 - no_negative / len(anchors))
        mined = ~trip.is_random
        # the first qualifying negative is the one Algorithm 1 mines
        row_of = {int(a): i for i, a in enumerate(anchors)}
        for a, n in zip(trip.anchors[mined], trip.negatives[mined]):
            i = row_of[int(a)]
            assert per.d2n1[i] == pytest.approx(float(sq[i][list(ids[i]).index(n)]))


def test_boundary_is_inert_below_kfirst():
    """Per anchor, any kappa < kfirst mines the same triplet as kappa = 0 (what kappa_lo relies on)."""
    rng = np.random.default_rng(7)
    labels, anchors, ids, sq = random_lists(rng, k=20)
    per = anchor_scale(labels, anchors, ids, sq)
    base, _ = smart_triplets(None, labels, anchors, ids, sq, 0.0, np.random.default_rng(1))
    kappa = float(np.nanmedian(per.kfirst))
    trip, _ = smart_triplets(None, labels, anchors, ids, sq, kappa, np.random.default_rng(1))
    inert = np.isfinite(per.kfirst) & (per.kfirst > kappa) & ~base.is_random
    assert inert.sum() >= 5
    np.testing.assert_array_equal(trip.negatives[inert], base.negatives[inert])
    np.testing.assert_array_equal(trip.is_random[inert], base.is_random[inert])


def test_hand_example_and_log_row():
    labels = np.array([0, 0, 1, 1, 0, 2])
    anchors = np.array([0, 1])
    # anchor 0: p1 = id 1 at 0.5; negatives after it: id 2 at 1.0, id 3 at 2.0 -> kfirst 2, kmax 4
    # anchor 1: no positive in its list -> kmax 0
    ids = np.array([[1, 2, 3, -1], [2, 3, 5, -1]])
    sq = np.array([[0.5, 1.0, 2.0, 0.0], [0.1, 0.2, 0.3, 0.0]], dtype=np.float32)
    scale = kappa_scale(labels, anchors, ids, sq, kappa=3.0, share=0.5)
    assert scale.kappa_lo == pytest.approx(2.0)  # 5% quantile of the one kfirst
    assert scale.kappa_hi == pytest.approx(4.0)  # half the anchors have a negative for every kappa < 4
    assert scale.share_at_kappa == 0.5 and scale.share_with_positive == 0.5
    row = scale.as_log_row()
    assert row["d2p1_q50"] == pytest.approx(0.5) and row["kmax_q95"] == pytest.approx(0.95 * 4.0)  # kmax = [4, 0]
    assert row["d2n1_q50"] == pytest.approx(2.0)  # at kappa 3 only id 3 (2.0 > 1.5) qualifies
    assert {"kappa_lo", "kappa_hi", "share_at_kappa", "kfirst_q05", "scale_degenerate"} <= set(row)
    assert all(isinstance(v, float) for v in row.values())
    # more than half the anchors without a negative: kappa_hi falls back to kappa_lo, flagged
    flat = kappa_scale(labels, anchors, ids, sq, share=0.8)
    assert flat.degenerate and flat.kappa_hi == flat.kappa_lo


def test_duplicate_p1_gives_huge_finite_ratios():
    labels = np.array([0, 0, 1])
    per = anchor_scale(labels, np.array([0]), np.array([[1, 2]]), np.array([[0.0, 0.3]], dtype=np.float32))
    assert np.isfinite(per.kmax).all() and per.kmax[0] > 1e20


def test_concat_joins_blocks_of_different_k():
    rng = np.random.default_rng(3)
    labels, anchors, ids, sq = random_lists(rng, k=12)
    whole = anchor_scale(labels, anchors, ids, sq, 1.5)
    a = anchor_scale(labels, anchors[:10], ids[:10], sq[:10], 1.5)
    pad_ids = np.concatenate([ids[10:], np.full((30, 4), -1)], 1)
    pad_sq = np.concatenate([sq[10:], np.zeros((30, 4), np.float32)], 1)
    b = anchor_scale(labels, anchors[10:], pad_ids, pad_sq, 1.5)
    joined = AnchorScale.concat(a, b)
    np.testing.assert_allclose(joined.kmax, whole.kmax)
    np.testing.assert_allclose(joined.d2n1, whole.d2n1, equal_nan=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nbr_idx": np.zeros((3, 2), np.int64)}, "nbr_idx and nbr_sqdist"),
        ({"nbr_idx": np.full((2, 2), 9)}, "ids outside"),
        ({"kappa": float("nan")}, "kappa must be"),
        ({"share": 0.0}, "share must"),
        ({"floor_quantile": 1.5}, "floor_quantile"),
    ],
)
def test_bad_input_raises(kwargs, match):
    args = {"labels": np.array([0, 0, 1]), "anchors": np.array([0, 1]), "nbr_idx": np.array([[1, 2], [0, 2]]),
            "nbr_sqdist": np.array([[0.1, 0.2], [0.1, 0.3]], np.float32)}
    args.update(kwargs)
    with pytest.raises(SmartMiningError, match=match):
        kappa_scale(**args)
