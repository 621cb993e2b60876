"""Smart mining (PAPER.md sections 3-4): Algorithm 1 over each anchor's sorted nearest-neighbour list.

``smart_triplets`` is the algorithm on given lists, vectorised over anchors (its test holds a literal
per-anchor transcription as the oracle); ``SmartMiner`` builds the index, queries the lists of the
anchors it is given (a chunk at a time), grows k where a list holds no positive, and calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from smartmining.checks import check_int
from smartmining.errors import SmartMiningError
from smartmining.mining.base import OfflineMiner, Triplets, check_offline_inputs, merge_stats
from smartmining.mining.kappa_scale import KappaScale, steer_on_lists
from smartmining.mining.lists import class_mates, grown_lists, list_recall, stacked
from smartmining.mining.random import ClassBlocks, random_triplets
from smartmining.neighbours import ReusedIndex, search

_REJECTION_ROUNDS = 32


def _outside_positives(
    labels: np.ndarray, anchors: np.ndarray, lists: np.ndarray, listed_mates: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Per anchor, a uniformly drawn member of its class that is neither the anchor nor in its list; -1 if none.

    ``listed_mates``: how many of the anchor's class mates its list holds (all of them: none outside).
    """
    blocks = ClassBlocks(labels)
    start, size = blocks.start[anchors], blocks.size[anchors]
    out = np.full(len(anchors), -1, dtype=np.int64)
    todo = np.flatnonzero(listed_mates < size - 1)
    # Rejection sampling over the class block: cheap while the list holds a minority of the class.
    for _ in range(_REJECTION_ROUNDS):
        if todo.size == 0:
            break
        cand = blocks.order[start[todo] + rng.integers(0, size[todo])]
        ok = (cand != anchors[todo]) & ~(lists[todo] == cand[:, None]).any(1)
        out[todo[ok]] = cand[ok]
        todo = todo[~ok]
    for i in todo:  # the class is (almost) all in the list: enumerate what is left
        members = blocks.order[start[i] : start[i] + size[i]]
        left = np.setdiff1d(members, np.append(lists[i], anchors[i]))
        if left.size:
            out[i] = rng.choice(left)
    return out


def _lists_for_anchors(nbr: np.ndarray, anchors: np.ndarray, n_points: int, name: str) -> np.ndarray:
    """Rows follow ``anchors`` when there is one per anchor; otherwise there must be one per point."""
    if nbr.ndim != 2:
        raise SmartMiningError(f"{name} must be 2-D (rows, k), got shape {nbr.shape}")
    if nbr.shape[0] == len(anchors):
        return nbr
    if nbr.shape[0] == n_points:
        return nbr[anchors]
    raise SmartMiningError(f"{name} must have one row per anchor ({len(anchors)}) or per point ({n_points}), got {nbr.shape[0]}")


def smart_triplets(
    embeddings: np.ndarray | None,
    labels: np.ndarray,
    anchors: np.ndarray,
    nbr_idx: np.ndarray,
    nbr_sqdist: np.ndarray,
    kappa: float,
    rng: np.random.Generator,
    n_per_anchor: int = 1,
) -> tuple[Triplets, dict[str, float]]:
    """Algorithm 1 for every anchor; returns n_per_anchor triplets per anchor (anchor-major) and stats.

    ``nbr_idx``/``nbr_sqdist`` rows (one per anchor, in order; else one per point, N rows) are sorted
    nearest first; id -1 (missing) and the anchor itself are ignored. ``embeddings`` is only checked
    for shape (the lists carry the distances) and may be None. Per anchor, p1 = nearest listed positive; a neighbour
    qualifies only if its squared distance is > kappa * that of p1 (eq. 6) and it comes after p1.
    Triplet t takes n = the t-th qualifying negative and p = the first qualifying positive listed after
    n; if none, a random member of a's class outside the list. Random triplets (is_random) are emitted
    where the list holds no positive, no unused negative is left, or a positive from outside is needed
    but the list already holds the whole class (our choice: then n is farther than every positive, so
    no triplet with d(a,n) < d(a,p) exists for this n or any later one).
    stats: n_triplets, random_fallbacks (= empty_neg + no_positive_in_list + no_outside_positive),
    outside_positives, mean_neg_len, mean_pos_len (qualifying negatives/positives per anchor).
    """
    embeddings, labels, anchors = check_offline_inputs(embeddings, labels, anchors)
    check_int("n_per_anchor", n_per_anchor)
    if not np.isfinite(kappa) or kappa < 0:
        raise SmartMiningError(f"kappa must be a finite number >= 0, got {kappa!r}")
    n_points = len(labels)
    idx = _lists_for_anchors(np.asarray(nbr_idx), anchors, n_points, "nbr_idx").astype(np.int64, copy=False)
    sq = _lists_for_anchors(np.asarray(nbr_sqdist), anchors, n_points, "nbr_sqdist")
    if sq.shape != idx.shape:
        raise SmartMiningError(f"nbr_sqdist must have the shape of nbr_idx {idx.shape}, got {sq.shape}")
    if idx.size and idx.max() >= n_points:
        raise SmartMiningError(f"nbr_idx holds ids >= N = {n_points}")
    m, k = idx.shape
    if k == 0:
        raise SmartMiningError("nbr_idx must hold at least one neighbour per row (k >= 1)")
    rows = np.arange(m)

    listed = (idx >= 0) & (idx != anchors[:, None])
    same = listed & (labels[np.where(listed, idx, 0)] == labels[anchors][:, None])
    other = listed & ~same
    has_pos = same.any(1)
    p1 = same.argmax(1)  # column of the nearest positive (0 where none; masked by has_pos)
    bound = kappa * sq[rows, p1].astype(np.float64)  # eq. 6
    qualifies = (np.arange(k) > p1[:, None]) & (sq > bound[:, None]) & has_pos[:, None]
    neg = other & qualifies
    pos = same & qualifies
    neg_seen = np.cumsum(neg, axis=1, dtype=np.int32)  # negatives up to each column (valid ranges)
    n_neg = neg_seen[:, -1]

    a_out = np.repeat(anchors, n_per_anchor).reshape(m, n_per_anchor)
    p_out = np.full((m, n_per_anchor), -1, dtype=np.int64)
    n_out = np.full((m, n_per_anchor), -1, dtype=np.int64)
    need_outside = np.zeros((m, n_per_anchor), dtype=bool)
    for t in range(n_per_anchor):
        live = has_pos & (n_neg > t)
        n_col = (neg & (neg_seen == t + 1)).argmax(1)  # the (t+1)-th qualifying negative
        later_pos = pos & (neg_seen > t)  # positives whose valid range contains it
        found = later_pos.any(1)
        p_col = later_pos.argmax(1)
        n_out[live, t] = idx[live, n_col[live]]
        p_out[live & found, t] = idx[live & found, p_col[live & found]]
        need_outside[:, t] = live & ~found

    need_r, need_t = np.nonzero(need_outside)
    drawn = _outside_positives(labels, anchors[need_r], idx[need_r], same.sum(1)[need_r], rng)
    p_out[need_r, need_t] = drawn
    no_outside = need_outside & (p_out < 0)
    empty_neg = has_pos[:, None] & (n_neg[:, None] <= np.arange(n_per_anchor))
    is_random = (p_out < 0) | (n_out < 0)
    rand = random_triplets(labels, a_out[is_random], rng)
    p_out[is_random], n_out[is_random] = rand.positives, rand.negatives

    triplets = Triplets(a_out.ravel(), p_out.ravel(), n_out.ravel(), is_random.ravel())
    stats = {
        "n_triplets": float(len(triplets)),
        "random_fallbacks": float(is_random.sum()),
        "empty_neg": float(empty_neg.sum()),
        "no_positive_in_list": float((~has_pos).sum() * n_per_anchor),
        "no_outside_positive": float(no_outside.sum()),
        "outside_positives": float((need_outside & ~no_outside).sum()),
        "mean_neg_len": float(n_neg.mean()) if m else 0.0,
        "mean_pos_len": float(pos.sum(1).mean()) if m else 0.0,
    }
    return triplets, stats


class SmartMiner(OfflineMiner):
    """Smart mining: FAISS index, k-NN lists (k grown where a list holds no positive), Algorithm 1.

    ``index``: flat, hnsw, ivf or auto (flat below AUTO_EXACT_BELOW points, else IVF, which
    ``index_params`` then configure). IVF centroids are trained on a sample and reused until the list
    recall falls ``retrain_drop`` below its value at training. Approximate lists get exact positives
    if ``exact_positives`` (mining/lists.py). ``kappa`` may be reassigned between epochs. stats: kappa,
    k, index (kind used), index_recall, index_p1_recall, p1_recall, n1_recall (``recall_sample``
    anchors), index_trained, t_build (incl. t_train), t_search, t_recall, t_index (their sum), t_select,
    grown_anchors, max_k_used and the counts of ``smart_triplets``.
    """

    name, anchors_per_chunk = "smart", 65_536  # anchors' lists held at once: bounds memory at any N

    def __init__(
        self,
        kappa: float = 16,
        k: int = 200,
        index: str = "flat",
        index_params: dict | None = None,
        recall_sample: int = 1000,
        max_k: int | None = None,
        exact_positives: bool = True,
        retrain_drop: float = 0.05,
    ) -> None:
        super().__init__()
        self._index = ReusedIndex(index, index_params, retrain_drop)  # checks the kind
        check_int("k", k, 1), check_int("recall_sample", recall_sample, 0)
        if max_k is not None:
            check_int("max_k", max_k, k)
        self.kappa, self.k, self.index, self.index_params = float(kappa), int(k), index, index_params
        self.recall_sample, self.max_k = int(recall_sample), max_k
        self.exact_positives, self._merge = bool(exact_positives), False
        self.on_scale: Callable[[KappaScale], float] | None = None  # chooses kappa from the data's scale
        self.scale_share = 0.5  # kappa_hi leaves this share of anchors a qualifying negative

    def check_data(self, n_points: int) -> None:
        if self.k >= n_points:
            raise SmartMiningError(f"mining.k = {self.k} must be smaller than the {n_points} training images; "
                                   f"set it to at most {n_points - 1}")

    def build(self, embeddings: np.ndarray) -> tuple[object, str, float | None]:
        """(index, kind built, seconds spent training IVF centroids or None: reused or not IVF)."""
        index, kind, t_train = self._index.build(embeddings)
        self._merge = kind != "flat" and self.exact_positives
        return index, kind, t_train

    def neighbour_lists(
        self, index: object, embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray,
        mates: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``grown_lists`` (mining/lists.py) from k up to max_k (at most N - 1), merged when ``build`` says."""
        n = len(labels)
        if self._merge and mates is None:
            mates = class_mates(embeddings, labels, anchors)
        return grown_lists(index, embeddings, labels, anchors, min(self.k, n - 1), min(self.max_k or n - 1, n - 1),
                           mates if self._merge else None)

    def _recall(self, index: object, embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray,
                k: int, rng: np.random.Generator) -> dict[str, float]:
        """Recall of the lists against exact search on a random sample of anchors (mining/lists.py)."""
        if self.recall_sample == 0:
            return dict.fromkeys(("index_recall", "index_p1_recall", "p1_recall", "n1_recall"), float("nan"))
        sample = anchors[rng.choice(len(anchors), min(self.recall_sample, len(anchors)), replace=False)]
        bare_ids, _ = search(index, embeddings[sample], k, sample)
        ids, sq = stacked(self.neighbour_lists(index, embeddings, labels, sample), len(sample))
        return list_recall(embeddings, labels, sample, bare_ids, ids, sq, self.kappa)

    def mine(
        self, embeddings: np.ndarray, labels: np.ndarray, anchors: np.ndarray, rng: np.random.Generator
    ) -> Triplets:
        embeddings, labels, anchors = check_offline_inputs(embeddings, labels, anchors)
        if len(labels) < 2:
            raise SmartMiningError(f"smart mining needs at least 2 points, got {len(labels)}")
        if anchors.size == 0:  # nothing to mine (e.g. no class with two members)
            self.stats = {"kappa": self.kappa, "n_triplets": 0.0, "random_fallbacks": 0.0, "index": self.index}
            return Triplets.empty()
        t0 = time.perf_counter()
        index, kind, t_train = self.build(embeddings)
        t_build = time.perf_counter() - t0

        t0 = time.perf_counter()
        mates = class_mates(embeddings, labels, anchors) if self._merge else None
        t_search, t_select = time.perf_counter() - t0, 0.0
        parts, stats_parts, order, grown, depth = [], [], [], 0, 1
        for lo in range(0, len(anchors), self.anchors_per_chunk):
            chunk = np.arange(lo, min(lo + self.anchors_per_chunk, len(anchors)))
            t0 = time.perf_counter()
            rows = None if mates is None else (mates[0][chunk], mates[1][chunk])
            groups = self.neighbour_lists(index, embeddings, labels, anchors[chunk], rows)
            t_search += time.perf_counter() - t0
            grown, depth = grown + len(chunk) - len(groups[0][0]), max(depth, len(groups))
            if lo == 0:  # the kappa scale of the data, on the first chunk's lists (a sample at large N)
                self.kappa, scale = steer_on_lists(labels, anchors[chunk], groups, self.kappa, self.on_scale, self.scale_share)
            t0 = time.perf_counter()
            for positions, ids, sq in groups:
                if positions.size:
                    triplets, stats = smart_triplets(None, labels, anchors[chunk[positions]], ids, sq, self.kappa, rng)
                    parts.append(triplets)
                    stats_parts.append((len(positions), stats))
                    order.append(chunk[positions])
            t_select += time.perf_counter() - t0
        t0 = time.perf_counter()
        result = Triplets.concat(*parts)
        if order:
            result = result.subset(np.argsort(np.concatenate(order), kind="stable"))
        t_select += time.perf_counter() - t0

        n = len(labels)
        k = min(self.k, n - 1)
        t0 = time.perf_counter()
        recall = self._recall(index, embeddings, labels, anchors, k, rng)
        t_recall = time.perf_counter() - t0
        if kind == "ivf":  # retrain the centroids next call once the lists drift from what training gave
            self._index.observe(recall["index_recall"], t_train is not None)
        self.stats = {
            **merge_stats(stats_parts),
            **recall,
            **scale.as_log_row(),
            "kappa": self.kappa,
            "k": float(k),
            "max_k_used": float(min(k * 2 ** (depth - 1), min(self.max_k or n - 1, n - 1))),
            "grown_anchors": float(grown),
            "index_trained": float(t_train is not None),
            "t_build": t_build,
            "t_train": t_train or 0.0,
            "t_search": t_search,
            "t_recall": t_recall,
            "t_index": t_build + t_search + t_recall,
            "t_select": t_select,
            "index": kind,  # a label beside the numbers, for the run's record
        }
        return result
