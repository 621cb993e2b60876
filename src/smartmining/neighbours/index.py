"""FAISS indexes for neighbour search: exact (flat), graph (HNSW) or inverted file (IVF), and their recall.

The paper used FANNG; we use FAISS [deviation] and record which index was used and its recall.
``auto`` is exact search below ``AUTO_EXACT_BELOW`` points and IVF from there on (measured in
benchmarks/bench_mining.py: see results/benchmarks.md). An IVF index's coarse quantizer (its
centroids) can be trained once on a sample and reused for later embeddings (``train_centroids``).
"""

from __future__ import annotations

import time

import faiss
import numpy as np

from smartmining.errors import SmartMiningError

INDEX_KINDS = ("flat", "hnsw", "ivf")
AUTO = "auto"
# Below this many points an exact refresh takes seconds and has recall 1; IVF's lists miss neighbours
# (list recall 0.6 at 100k) but its refresh grows as N^1.1-1.4 against exact's N^1.7 (bench_mining.py).
AUTO_EXACT_BELOW = 50_000
_FLAT_QUANTIZER_UP_TO = 1024  # more IVF lists than this: an HNSW graph finds a point's nearest lists
DEFAULT_PARAMS: dict[str, dict[str, int]] = {
    "flat": {},
    "hnsw": {"M": 32, "efConstruction": 40, "efSearch": 64},  # FAISS searches with ef = max(efSearch, k)
    # nlist 0 = N / 256 (lists of about 256 points: a query's cost does not grow with N); k-means on
    # train_per_list * nlist sampled points, train_iters iterations.
    "ivf": {"nprobe": 8, "nlist": 0, "train_per_list": 16, "train_iters": 8},
}


def resolve_kind(kind: str, n: int) -> str:
    """The index kind to build for ``n`` points: ``kind`` itself, or for ``auto`` flat or IVF by size."""
    if kind == AUTO:
        return "flat" if n < AUTO_EXACT_BELOW else "ivf"
    if kind not in INDEX_KINDS:
        raise SmartMiningError(f"index kind must be one of {(*INDEX_KINDS, AUTO)}, got {kind!r}")
    return kind


def index_settings(kind: str, params: dict | None) -> dict[str, int]:
    """``params`` over the kind's defaults; SmartMiningError naming any parameter the kind does not have."""
    if kind not in INDEX_KINDS:
        raise SmartMiningError(f"index kind must be one of {INDEX_KINDS}, got {kind!r}")
    unknown = set(params or {}) - set(DEFAULT_PARAMS[kind])
    if unknown:
        raise SmartMiningError(
            f"index_params {sorted(unknown)} unknown for kind {kind!r}; allowed: {sorted(DEFAULT_PARAMS[kind])}")
    return {**DEFAULT_PARAMS[kind], **(params or {})}


def _matrix(embeddings: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise SmartMiningError(f"embeddings must be a non-empty (N, d) array, got shape {x.shape}")
    return x


def train_centroids(embeddings: np.ndarray, params: dict | None = None, seed: int = 0) -> np.ndarray:
    """IVF coarse centroids (nlist, d) from k-means on a random sample of ``embeddings``."""
    x = _matrix(embeddings)
    settings = index_settings("ivf", params)
    n, d = x.shape
    nlist = int(settings["nlist"] or max(1, round(n / 256)))
    sample_size = min(n, max(nlist, int(settings["train_per_list"]) * nlist))
    sample = x if sample_size == n else x[np.random.default_rng(seed).choice(n, sample_size, replace=False)]
    kmeans = faiss.Kmeans(d, nlist, niter=int(settings["train_iters"]), seed=int(seed), verbose=False,
                          min_points_per_centroid=1, max_points_per_centroid=sample_size)
    kmeans.train(sample)
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


def _gpu_count() -> int:
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def build_index(
    embeddings: np.ndarray,
    kind: str,
    params: dict | None = None,
    use_gpu: bool | None = None,
    centroids: np.ndarray | None = None,
) -> faiss.Index:
    """An L2 index holding ``embeddings`` (N, d). ``use_gpu``: None = if FAISS sees a GPU, True = required.

    IVF: ``centroids`` (nlist, d), e.g. from an earlier epoch's ``train_centroids``, skip the training.
    """
    settings = index_settings(kind, params)
    x = _matrix(embeddings)
    n, d = x.shape
    if kind == "flat":
        index = faiss.IndexFlatL2(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(settings["M"]))
        index.hnsw.efConstruction = int(settings["efConstruction"])
        index.hnsw.efSearch = int(settings["efSearch"])
    else:
        if centroids is None:
            centroids = train_centroids(x, params)
        if centroids.ndim != 2 or centroids.shape[1] != d:
            raise SmartMiningError(f"centroids must have shape (nlist, {d}), got {centroids.shape}")
        # A graph over the centroids: assigning N points and the queries costs log(nlist), not nlist.
        quantizer = faiss.IndexHNSWFlat(d, 32) if len(centroids) > _FLAT_QUANTIZER_UP_TO else faiss.IndexFlatL2(d)
        if len(centroids) > _FLAT_QUANTIZER_UP_TO:
            quantizer.hnsw.efSearch = max(64, 4 * int(settings["nprobe"]))
        quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
        index = faiss.IndexIVFFlat(quantizer, d, len(centroids))
        index.is_trained = True  # the Python wrapper keeps ``quantizer`` alive with the index
        index.nprobe = int(settings["nprobe"])
    gpus = _gpu_count()
    if use_gpu and not gpus:
        raise SmartMiningError("use_gpu=True but FAISS sees no GPU (faiss-cpu build or no device)")
    if use_gpu is not False and gpus and kind != "hnsw":  # FAISS has no GPU HNSW
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(x)
    return index


def index_recall(approx_idx: np.ndarray, exact_idx: np.ndarray) -> float:
    """Mean over rows of |approx ∩ exact| / |exact| (ids < 0 ignored): recall of the approximate lists."""
    approx_idx, exact_idx = np.asarray(approx_idx), np.asarray(exact_idx)
    if approx_idx.ndim != 2 or approx_idx.shape[0] != exact_idx.shape[0]:
        raise SmartMiningError(f"approx_idx and exact_idx must be (q, k) with the same q, got {approx_idx.shape} and {exact_idx.shape}")
    if approx_idx.shape[0] == 0:
        raise SmartMiningError("index_recall needs at least one query row")
    hits = [len(np.intersect1d(a[a >= 0], e[e >= 0])) / max(1, int((e >= 0).sum())) for a, e in zip(approx_idx, exact_idx)]
    return float(np.mean(hits))


class ReusedIndex:
    """Builds a fresh index per call (``kind`` may be auto), reusing trained IVF centroids across calls.

    The centroids are retrained once ``observe`` reports a list recall ``retrain_drop`` below the
    recall measured when they were trained (the embedding has drifted away from them).
    """

    def __init__(self, kind: str, params: dict | None = None, retrain_drop: float = 0.05) -> None:
        if kind != AUTO and kind not in INDEX_KINDS:
            raise SmartMiningError(f"index must be one of {(*INDEX_KINDS, AUTO)}, got {kind!r}")
        self.kind, self.params, self.retrain_drop = kind, params, float(retrain_drop)
        self.centroids: np.ndarray | None = None
        self.trained_recall = float("nan")

    def build(self, embeddings: np.ndarray) -> tuple[faiss.Index, str, float | None]:
        """(index, the kind built, seconds spent training centroids or None when they were reused)."""
        kind = resolve_kind(self.kind, len(embeddings))
        params = self.params if kind in (self.kind, "ivf") else None  # auto: the parameters are IVF's
        if kind != "ivf":
            return build_index(embeddings, kind, params), kind, None
        t_train = None
        if self.centroids is None or self.centroids.shape[1] != embeddings.shape[1]:
            t0 = time.perf_counter()
            self.centroids, self.trained_recall = train_centroids(embeddings, params), float("nan")
            t_train = time.perf_counter() - t0
        return build_index(embeddings, kind, params, centroids=self.centroids), kind, t_train

    def observe(self, recall: float, trained: bool) -> None:
        """The list recall measured with the index just built: the reference when trained, else a check."""
        if trained or np.isnan(self.trained_recall):
            self.trained_recall = recall
        elif recall < self.trained_recall - self.retrain_drop:
            self.centroids = None
