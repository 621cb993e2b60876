"""Algorithm 1 (PAPER.md section 4) in torch, for online use: a batch of anchors against a reference set.

The anchors and the reference set are two index spaces (PML's convention: anchors index the batch,
positives and negatives index the reference set, which may be the batch itself or a memory bank), and
everything stays on the embeddings' device. ``smart_from_lists`` is ``smart_triplets`` (mining/smart.py)
on the same sorted lists, with one difference: where Algorithm 1 would emit a random triplet, no triplet
is emitted and the slot is counted as a fallback. tests/test_pml_miner.py checks the two agree.
This module does not import pytorch-metric-learning; smartmining.pml wraps it as a PML miner.
"""

from __future__ import annotations

import math

import torch

from smartmining.checks import check_int
from smartmining.errors import SmartMiningError

Tensor = torch.Tensor


def self_copies(emb: Tensor, ref: Tensor, labels: Tensor, ref_labels: Tensor, sq: Tensor, tol: Tensor | None) -> Tensor:
    """(B, R) mask of the reference entries that are the anchor itself.

    ``tol`` None: the reference set is the batch (entry i is anchor i). Otherwise an entry is the anchor
    where it holds the anchor's label and a bit-identical embedding (CrossBatchMemory stores the batch in
    its memory before it calls the miner, so each anchor meets its own copy); only entries with
    ``sq <= tol`` (rounding of a zero distance) are compared.
    """
    b, r = sq.shape
    if tol is None:
        return torch.eye(b, r, dtype=torch.bool, device=sq.device)
    near = (sq <= tol) & (labels[:, None] == ref_labels[None, :])
    rows, cols = near.nonzero(as_tuple=True)
    mask = torch.zeros_like(near)
    if rows.numel():
        equal = (emb[rows] == ref[cols]).all(1)
        mask[rows[equal], cols[equal]] = True
    return mask


def sorted_lists(sq: Tensor, k: int | None, exclude: Tensor | None) -> tuple[Tensor, Tensor]:
    """Each row's k nearest reference entries (all where k is None), nearest first, ties by index.

    Returns (ids int64, squared distances); excluded entries become id -1 at the end of the list.
    """
    if exclude is not None:
        sq = sq.masked_fill(exclude, math.inf)
    n_ref = sq.shape[1]
    if k is None or k >= n_ref:
        dist, ids = torch.sort(sq, dim=1, stable=True)
    else:
        dist, ids = torch.topk(sq, k, dim=1, largest=False, sorted=True)
    ids = ids.masked_fill(torch.isinf(dist), -1)
    return ids, dist


def _outside_positives(anchor_labels: Tensor, ref_labels: Tensor, ids: Tensor, exclude: Tensor | None,
                       generator: torch.Generator | None) -> Tensor:
    """Per row, a uniform reference entry of the anchor's class outside its list and not itself; -1 if none."""
    m, n_ref = len(anchor_labels), len(ref_labels)
    if m == 0:
        return ids.new_zeros(0)
    listed = torch.zeros(m, n_ref + 1, dtype=torch.bool, device=ids.device)
    listed.scatter_(1, torch.where(ids < 0, n_ref, ids), True)
    if exclude is not None and exclude.dtype != torch.bool:  # excluded ids, -1 padded
        listed.scatter_(1, torch.where(exclude < 0, n_ref, exclude), True)
    cand = (ref_labels[None, :] == anchor_labels[:, None]) & ~listed[:, :n_ref]
    if exclude is not None and exclude.dtype == torch.bool:
        cand &= ~exclude
    scores = torch.rand(m, n_ref, generator=generator, device=ids.device).masked_fill(~cand, -1.0)
    return torch.where(cand.any(1), scores.argmax(1), torch.full_like(ids[:, 0], -1))


def _check_args(kappa: float, per_anchor: int) -> None:
    if not math.isfinite(kappa) or kappa < 0:
        raise SmartMiningError(f"kappa must be a finite number >= 0, got {kappa!r}")
    check_int("triplets_per_anchor", per_anchor)


def smart_from_lists(
    anchor_labels: Tensor,
    ref_labels: Tensor,
    ids: Tensor,
    sq: Tensor,
    kappa: float,
    per_anchor: int = 1,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[tuple[Tensor, Tensor, Tensor], dict[str, float]]:
    """Algorithm 1 for B anchors on sorted lists ``ids``/``sq`` (B, k) into the reference set.

    Returns (anchor rows, positive ids, negative ids), anchor-major, at most ``per_anchor`` per anchor,
    and stats: n_triplets, fallbacks (slots without a mined triplet), no_positive (anchors whose list
    holds no positive), outside_positives, mean_d2_p1 (over anchors with a listed positive), mean_neg_len.
    ``exclude``: the entries that are the anchor itself, never drawn as an outside positive: a (B, R)
    mask, or (B, j) reference ids padded with -1.
    """
    _check_args(kappa, per_anchor)
    m, k = ids.shape
    device = ids.device
    rows = torch.arange(m, device=device)
    listed = ids >= 0
    same = listed & (ref_labels[ids.clamp(min=0)] == anchor_labels[:, None])
    other = listed & ~same
    has_pos = same.any(1)
    p1 = same.to(torch.uint8).argmax(1)
    d2_p1 = sq[rows, p1].double()
    bound = kappa * d2_p1  # eq. 6, in float64 as smart_triplets takes it
    cols = torch.arange(k, device=device)
    qualifies = (cols[None, :] > p1[:, None]) & (sq.double() > bound[:, None]) & has_pos[:, None]
    neg, pos = other & qualifies, same & qualifies
    neg_seen = torch.cumsum(neg.to(torch.int32), 1)
    n_neg = neg_seen[:, -1] if k else torch.zeros(m, dtype=torch.int32, device=device)

    p_out = torch.full((m, per_anchor), -1, dtype=torch.long, device=device)
    n_out = torch.full((m, per_anchor), -1, dtype=torch.long, device=device)
    need = torch.zeros((m, per_anchor), dtype=torch.bool, device=device)
    for t in range(per_anchor):
        live = has_pos & (n_neg > t)
        n_col = (neg & (neg_seen == t + 1)).to(torch.uint8).argmax(1)
        later = pos & (neg_seen > t)
        found = later.any(1)
        p_col = later.to(torch.uint8).argmax(1)
        n_out[:, t] = torch.where(live, ids[rows, n_col], -1)
        p_out[:, t] = torch.where(live & found, ids[rows, p_col], -1)
        need[:, t] = live & ~found
    need_r, need_t = need.nonzero(as_tuple=True)
    if need_r.numel():
        ex = exclude[need_r] if exclude is not None else None
        p_out[need_r, need_t] = _outside_positives(anchor_labels[need_r], ref_labels, ids[need_r], ex, generator)
    ok = (p_out >= 0) & (n_out >= 0)
    a_idx = rows[:, None].expand(m, per_anchor)[ok]
    n_pos = int(has_pos.sum())
    stats = {
        "n_triplets": float(ok.sum()),
        "fallbacks": float((~ok).sum()),
        "no_positive": float(m - n_pos),
        "outside_positives": float((need & ok).sum()),
        "mean_d2_p1": float(d2_p1[has_pos].mean()) if n_pos else math.nan,
        "mean_neg_len": float(n_neg.double().mean()) if m else 0.0,
    }
    return (a_idx, p_out[ok], n_out[ok]), stats


def squared_distances(x: Tensor, y: Tensor, p: float = 2) -> Tensor:
    """(B, R) squared Lp distances as the loss computes them (torch.cdist, then squared), in float32 at least."""
    if x.dtype in (torch.float16, torch.bfloat16):
        x, y = x.float(), y.float()
    return torch.cdist(x, y.to(x.dtype), p=p).square()


def _first_after(mask: Tensor, sq: Tensor, cols: Tensor, after_sq: Tensor | None, after_col: Tensor | None) -> tuple[Tensor, Tensor]:
    """Per row, the first entry of ``mask`` in (sq, column) order, strictly after (after_sq, after_col)
    where given; returns (column, found). The order of a stable sort, without sorting."""
    if after_sq is not None:
        mask = mask & ((sq > after_sq[:, None]) | ((sq == after_sq[:, None]) & (cols[None, :] > after_col[:, None])))
    least = sq.masked_fill(~mask, math.inf).amin(1, keepdim=True)
    hit = mask & (sq == least)
    return hit.to(torch.uint8).argmax(1), hit.any(1)


def smart_whole(
    anchor_labels: Tensor,
    ref_labels: Tensor,
    sq: Tensor,
    kappa: float,
    per_anchor: int = 1,
    exclude: Tensor | None = None,
) -> tuple[tuple[Tensor, Tensor, Tensor], dict[str, float]]:
    """``smart_from_lists`` on whole lists (k = None): the same triplets and stats, without the sort.

    Each anchor's list is the whole reference set less ``exclude`` (B, R); Algorithm 1 needs only the
    nearest positive, the first qualifying negatives in order and the first qualifying positive after
    each, so a few masked minima over (B, R) replace the O(R log R) sort per anchor. Order is (distance,
    index), that of a stable sort. No positive lies outside a whole list, so none is drawn.
    """
    _check_args(kappa, per_anchor)
    m, n_ref = sq.shape
    device = sq.device
    rows, cols = torch.arange(m, device=device), torch.arange(n_ref, device=device)
    same = ref_labels[None, :] == anchor_labels[:, None]
    listed = ~exclude if exclude is not None else torch.ones_like(same)
    pos, neg = same & listed, ~same & listed
    p1, has_pos = _first_after(pos, sq, cols, None, None)
    d2_p1 = sq[rows, p1]
    qualifies = (sq.double() > kappa * d2_p1.double()[:, None]) & has_pos[:, None]
    qualifies &= (sq > d2_p1[:, None]) | ((sq == d2_p1[:, None]) & (cols[None, :] > p1[:, None]))
    qneg, qpos = neg & qualifies, pos & qualifies
    p_out = torch.full((m, per_anchor), -1, dtype=torch.long, device=device)
    n_out = torch.full((m, per_anchor), -1, dtype=torch.long, device=device)
    prev_sq = prev_col = None
    for t in range(per_anchor):
        n_col, live = _first_after(qneg, sq, cols, prev_sq, prev_col)
        n_sq = sq[rows, n_col]
        p_col, found = _first_after(qpos, sq, cols, n_sq, n_col)
        n_out[:, t] = torch.where(live, n_col, -1)
        p_out[:, t] = torch.where(live & found, p_col, -1)
        prev_sq, prev_col = n_sq, n_col
    ok = (p_out >= 0) & (n_out >= 0)
    n_pos = int(has_pos.sum())
    stats = {
        "n_triplets": float(ok.sum()),
        "fallbacks": float((~ok).sum()),
        "no_positive": float(m - n_pos),
        "outside_positives": 0.0,
        "mean_d2_p1": float(d2_p1[has_pos].double().mean()) if n_pos else math.nan,
        "mean_neg_len": float(qneg.sum(1).double().mean()) if m else 0.0,
    }
    return (rows[:, None].expand(m, per_anchor)[ok], p_out[ok], n_out[ok]), stats
