"""Sorted neighbour lists for smart mining (PAPER.md section 3, step 3) and how close they are to exact ones.

With an approximate index the positives of a list come from exact search instead: each anchor's
class-mates (few, known from the labels) are measured exactly, the list's own positives are dropped
and the class-mates nearer than the list's farthest entry are merged in. An exact list holds exactly
those positives, so the merged list differs from an exact one only in its negatives; the nearest
positive p1, on which Algorithm 1's boundary rests, is then always the true one when it is listed.

Recall against exact search, on a sample of anchors: ``index_recall`` (the bare index's list of
k against the exact k), ``p1_recall`` (the list's nearest positive is the true nearest class-mate)
and ``n1_recall`` (the list's first qualifying negative, eq. 6 with the list's own p1, is the exact
list's). ``n1_recall`` counts only anchors whose exact first qualifying negative lies in the exact k.
"""

from __future__ import annotations

import faiss
import numpy as np

from smartmining.mining.random import ClassBlocks
from smartmining.neighbours import index_recall, search

# Classes larger than this keep the index's positives (their exact distances would cost size^2 d).
MAX_EXACT_CLASS = 4096
_GRAM_FLOATS = 1 << 22  # Gram matrix entries (float64) held at once


def class_mates(embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each anchor's class-mates (not itself), nearest first: (ids (m, s), squared distances (m, s)).

    s = the largest class among the anchors' minus one; rows are padded with id -1, distance inf. Rows
    of anchors in classes over MAX_EXACT_CLASS points are all padding. Distances are computed in
    float64, one batched Gram matrix per class (classes of one size together).
    """
    blocks = ClassBlocks(labels)
    size, first = blocks.size[anchors], blocks.start[anchors]
    exact = (size <= MAX_EXACT_CLASS) & (size >= 2)
    width = max(1, int(size[exact].max(initial=2)) - 1)
    ids = np.full((len(anchors), width), -1, dtype=np.int64)
    sq = np.full((len(anchors), width), np.inf, dtype=np.float32)
    for s in np.unique(size[exact]):
        rows_s = np.flatnonzero(exact & (size == s))
        starts = np.unique(first[rows_s])
        for lo in range(0, len(starts), max(1, _GRAM_FLOATS // (s * s))):
            cls_starts = starts[lo : lo + max(1, _GRAM_FLOATS // (s * s))]
            rows = rows_s[np.isin(first[rows_s], cls_starts)]
            members = blocks.order[cls_starts[:, None] + np.arange(s)]  # (classes, s)
            xm = embeddings[members].astype(np.float64)
            gram = xm @ xm.transpose(0, 2, 1)
            norms = np.einsum("css->cs", gram)
            c = np.searchsorted(cls_starts, first[rows])
            j = blocks.position[anchors[rows]] - first[rows]  # each anchor's column in its class
            dist = np.maximum(norms[c, j][:, None] + norms[c] - 2 * gram[c, j], 0.0)
            dist[np.arange(len(rows)), j] = np.inf  # the anchor itself
            order = np.argsort(dist, axis=1, kind="stable")[:, : s - 1]
            sq[rows, : s - 1] = np.take_along_axis(dist, order, axis=1)
            ids[rows, : s - 1] = np.take_along_axis(members[c], order, axis=1)
    return ids, sq


def merge_positives(
    labels: np.ndarray, anchors: np.ndarray, ids: np.ndarray, sq: np.ndarray, mate_ids: np.ndarray, mate_sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lists whose positives are the exact class-mates nearer than (or as near as) the list's last entry.

    Rows without exact class-mates (all padding: classes over MAX_EXACT_CLASS) keep their list as it is.
    """
    exact_rows = (mate_ids >= 0).any(1)
    listed = ids >= 0
    radius = np.where(listed.any(1), np.where(listed, sq, -np.inf).max(1), np.inf)
    drop = exact_rows[:, None] & listed & (labels[np.where(listed, ids, 0)] == labels[anchors][:, None])
    ids, sq = np.where(drop, -1, ids), np.where(drop, np.float32(np.inf), sq)
    take = exact_rows[:, None] & (mate_ids >= 0) & (mate_sq <= radius[:, None])
    all_ids = np.concatenate([ids, np.where(take, mate_ids, -1)], axis=1)
    all_sq = np.concatenate([sq, np.where(take, mate_sq, np.float32(np.inf))], axis=1)
    # Two sorted runs per row: a stable sort merges them in linear time; padding (inf) goes last.
    order = np.argsort(all_sq, axis=1, kind="stable")
    all_ids, all_sq = np.take_along_axis(all_ids, order, axis=1), np.take_along_axis(all_sq, order, axis=1)
    width = max(1, int((all_ids >= 0).sum(1).max(initial=0)))
    return all_ids[:, :width], all_sq[:, :width]


def first_positive_and_negative(
    labels: np.ndarray, anchors: np.ndarray, ids: np.ndarray, sq: np.ndarray, kappa: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per list: p1 (nearest listed positive) and n1 (first negative after p1 past kappa * d(p1)^2); -1 if none."""
    listed = (ids >= 0) & (ids != anchors[:, None])
    same = listed & (labels[np.where(listed, ids, 0)] == labels[anchors][:, None])
    has_pos = same.any(1)
    p1_col = same.argmax(1)
    rows = np.arange(len(ids))
    bound = kappa * sq[rows, p1_col].astype(np.float64)
    qualifying = listed & ~same & (np.arange(ids.shape[1]) > p1_col[:, None]) & (sq > bound[:, None])
    has_neg = has_pos & qualifying.any(1)
    p1 = np.where(has_pos, ids[rows, p1_col], -1)
    n1 = np.where(has_neg, ids[rows, qualifying.argmax(1)], -1)
    return p1, n1


def list_recall(
    embeddings: np.ndarray,
    labels: np.ndarray,
    sample: np.ndarray,
    bare_ids: np.ndarray,
    list_ids: np.ndarray,
    list_sq: np.ndarray,
    kappa: float,
) -> dict[str, float]:
    """index_recall, index_p1_recall, p1_recall, n1_recall (module note) of ``sample``'s lists vs exact search.

    ``bare_ids``: the bare index's k-NN of the sample (k columns); ``list_ids``/``list_sq``: the lists
    Algorithm 1 is given (after growth and merging).
    """
    k = bare_ids.shape[1]
    exact = faiss.IndexFlatL2(embeddings.shape[1])
    exact.add(embeddings)
    exact_ids, exact_sq = search(exact, embeddings[sample], k, sample)
    mate_ids, _ = class_mates(embeddings, labels, sample)
    true_p1 = np.where((mate_ids >= 0).any(1), mate_ids[:, 0], -1)
    bare_p1, _ = first_positive_and_negative(labels, sample, bare_ids, np.zeros(bare_ids.shape, np.float32), 0.0)
    p1, n1 = first_positive_and_negative(labels, sample, list_ids, list_sq, kappa)
    exact_p1, exact_n1 = first_positive_and_negative(labels, sample, exact_ids, exact_sq, kappa)
    judged = exact_n1 >= 0
    return {
        "index_recall": index_recall(bare_ids, exact_ids),
        "index_p1_recall": float(np.mean(bare_p1 == true_p1)),
        "p1_recall": float(np.mean(p1 == true_p1)),
        "n1_recall": float(np.mean(n1[judged] == exact_n1[judged])) if judged.any() else float("nan"),
        "n1_judged": float(judged.sum()),
    }


def grown_lists(
    index: object, embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray, k: int, cap: int,
    mates: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Groups of (anchor positions, ids, squared distances), one per list length k, 2k, 4k, ...

    An anchor moves to the next group while its list holds no positive and k is below ``cap``.
    With ``mates`` (``class_mates`` of ``anchors``) the lists' positives are the exact class-mates.
    """
    todo = np.arange(len(anchors))
    groups = []
    while todo.size:
        ids, sq = search(index, embeddings[anchors[todo]], k, anchors[todo])
        if mates is not None:
            ids, sq = merge_positives(labels, anchors[todo], ids, sq, mates[0][todo], mates[1][todo])
        lacking = ~(labels[np.where(ids >= 0, ids, 0)] == labels[anchors[todo]][:, None]).any(1)
        if k >= cap:
            lacking[:] = False
        groups.append((todo[~lacking], ids[~lacking], sq[~lacking]))
        todo = todo[lacking]
        k = min(2 * k, cap)
    return groups


def stacked(groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]], m: int) -> tuple[np.ndarray, np.ndarray]:
    """``grown_lists``'s groups as one (m, widest) pair of arrays in anchor order, padded with -1 / inf."""
    width = max(g[1].shape[1] for g in groups)
    ids = np.full((m, width), -1, dtype=np.int64)
    sq = np.full((m, width), np.inf, dtype=np.float32)
    for positions, g_ids, g_sq in groups:
        ids[positions, : g_ids.shape[1]], sq[positions, : g_sq.shape[1]] = g_ids, g_sq
    return ids, sq
