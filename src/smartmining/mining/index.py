"""Nearest-neighbour index for smart mining (PAPER.md section 3, step 2): FAISS flat, HNSW or IVF.

The paper used FANNG; we use FAISS [deviation] and record which index was used and its recall.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from smartmining.errors import SmartMiningError

INDEX_KINDS = ("flat", "hnsw", "ivf")
DEFAULT_PARAMS: dict[str, dict[str, int]] = {
    "flat": {},
    "hnsw": {"M": 32, "efConstruction": 40, "efSearch": 64},  # FAISS searches with ef = max(efSearch, k)
    "ivf": {"nprobe": 16},  # nlist defaults to ~4 sqrt(N)
}


def _gpu_count() -> int:
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def build_index(
    embeddings: np.ndarray, kind: str, params: dict | None = None, use_gpu: bool | None = None
) -> faiss.Index:
    """An L2 index holding ``embeddings`` (N, d). ``use_gpu``: None = if FAISS sees a GPU, True = required."""
    if kind not in INDEX_KINDS:
        raise SmartMiningError(f"index kind must be one of {INDEX_KINDS}, got {kind!r}")
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise SmartMiningError(f"embeddings must be a non-empty (N, d) array, got shape {x.shape}")
    settings = {**DEFAULT_PARAMS[kind], **(params or {})}
    unknown = set(settings) - set(DEFAULT_PARAMS[kind]) - ({"nlist"} if kind == "ivf" else set())
    if unknown:
        raise SmartMiningError(f"index_params {sorted(unknown)} unknown for kind {kind!r}; allowed: {sorted(DEFAULT_PARAMS[kind])}")
    n, d = x.shape
    if kind == "flat":
        index = faiss.IndexFlatL2(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(settings["M"]))
        index.hnsw.efConstruction = int(settings["efConstruction"])
        index.hnsw.efSearch = int(settings["efSearch"])
    else:
        nlist = int(settings.get("nlist") or max(1, min(n, round(4 * math.sqrt(n)))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
        index.cp.min_points_per_centroid = 1  # small sets: train on what there is without warnings
        index.train(x)
        index.nprobe = int(settings["nprobe"])
    gpus = _gpu_count()
    if use_gpu and not gpus:
        raise SmartMiningError("use_gpu=True but FAISS sees no GPU (faiss-cpu build or no device)")
    if use_gpu is not False and gpus and kind != "hnsw":  # FAISS has no GPU HNSW
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(x)
    return index


def search(
    index: faiss.Index, queries: np.ndarray, k: int, exclude_self_ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k nearest (ids int64 (q, k), squared distances float32 (q, k)), nearest first.

    With ``exclude_self_ids`` (the queries' own ids in the index) each query's own entry is dropped
    (k + 1 are fetched; where the query is not among them, the last one is dropped). Approximate
    indexes may return fewer than k: missing entries are id -1 with distance inf.
    """
    n = index.ntotal
    q = np.ascontiguousarray(queries, dtype=np.float32)
    available = n - 1 if exclude_self_ids is not None else n
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= available:
        bound = "N - 1" if exclude_self_ids is not None else "N"
        raise SmartMiningError(f"k must be in [1, {bound}] = [1, {available}], got k={k} with N={n}")
    if q.ndim != 2 or q.shape[1] != index.d:
        raise SmartMiningError(f"queries must have shape (q, {index.d}), got {q.shape}")
    if exclude_self_ids is None:
        dist, ids = index.search(q, int(k))
    else:
        own = np.asarray(exclude_self_ids, dtype=np.int64)
        if own.shape != (len(q),):
            raise SmartMiningError(f"exclude_self_ids must have shape ({len(q)},), got {own.shape}")
        dist, ids = index.search(q, int(k) + 1)
        drop = ids == own[:, None]
        drop[~drop.any(1), -1] = True
        drop &= np.cumsum(drop, axis=1) == 1  # one entry per row, even if an id repeats
        dist, ids = dist[~drop].reshape(len(q), k), ids[~drop].reshape(len(q), k)
    dist = np.where(ids < 0, np.inf, dist).astype(np.float32)
    return ids.astype(np.int64), dist


def index_recall(approx_idx: np.ndarray, exact_idx: np.ndarray) -> float:
    """Mean over rows of |approx ∩ exact| / |exact| (ids < 0 ignored): recall of the approximate lists."""
    approx_idx, exact_idx = np.asarray(approx_idx), np.asarray(exact_idx)
    if approx_idx.ndim != 2 or approx_idx.shape[0] != exact_idx.shape[0]:
        raise SmartMiningError(f"approx_idx and exact_idx must be (q, k) with the same q, got {approx_idx.shape} and {exact_idx.shape}")
    if approx_idx.shape[0] == 0:
        raise SmartMiningError("index_recall needs at least one query row")
    hits = [len(np.intersect1d(a[a >= 0], e[e >= 0])) / max(1, int((e >= 0).sum())) for a, e in zip(approx_idx, exact_idx)]
    return float(np.mean(hits))
