"""Exact nearest-neighbour search and k-means clustering of embeddings, both through FAISS.

Tie-break: neighbours are ordered by (squared distance, database index), ascending. FAISS's exact
flat search already keeps the lowest indices among neighbours tied at the k-th distance (checked
against a brute-force oracle in tests/test_neighbours.py); within the returned window we re-sort
explicitly so the order never depends on FAISS internals.

Rounding: FAISS computes |q|^2 + |x|^2 - 2 q.x with BLAS, and the last bit of a float32 distance can
depend on how many queries go into one search call. Near-ties may then order differently for
different ``chunk_size``; ``chunk_size=None`` (one call) gives the distances of any library that
searches all queries at once, e.g. pytorch-metric-learning's AccuracyCalculator.
"""

from __future__ import annotations

import faiss
import numpy as np

from smartmining.errors import SmartMiningError

_METRICS = ("l2", "cosine")
# Rows of a search result post-processed at a time: bounds the boolean temporaries of the checks.
_ROWS_PER_BLOCK = 8192


def _as_float32_matrix(x: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise SmartMiningError(
            f"{name} must be a 2-D numpy array (n, d), got {type(x).__name__} "
            f"with shape {getattr(x, 'shape', None)}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise SmartMiningError(f"{name} must be non-empty, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise SmartMiningError(f"{name} must hold numbers, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise SmartMiningError(f"{name} contains NaN or inf (or values too large for float32)")
    return x


def _l2_normalised(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))


def _sort_rows_by_distance_then_index(dist: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # FAISS rows are normally in order already; re-sort only the rows that are not (cheap check).
    out_of_order = (dist[:, 1:] < dist[:, :-1]) | ((dist[:, 1:] == dist[:, :-1]) & (idx[:, 1:] < idx[:, :-1]))
    rows = np.flatnonzero(out_of_order.any(axis=1))
    if rows.size:
        order = np.lexsort((idx[rows], dist[rows]), axis=-1)
        dist[rows] = np.take_along_axis(dist[rows], order, axis=1)
        idx[rows] = np.take_along_axis(idx[rows], order, axis=1)
    return dist, idx


def _move_own_index_first(idx: np.ndarray, dist: np.ndarray, own: np.ndarray) -> None:
    """In place: put each row's own index (where absent, its last entry) in column 0, the rest in order.

    Column 0 is then dropped by slicing, without copying the result. FAISS nearly always has the
    query itself first already; only the other rows are shifted.
    """
    is_self = idx == own[:, None]
    width = idx.shape[1]
    # Absent self (duplicates tied at distance 0 with lower indices): drop the last column instead.
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), width - 1)
    rows = np.flatnonzero(drop > 0)
    if rows.size:
        keep = np.ones((rows.size, width), dtype=bool)
        keep[np.arange(rows.size), drop[rows]] = False
        for values in (idx, dist):
            values[rows, 1:] = values[rows][keep].reshape(rows.size, width - 1)


def _finished(dist: np.ndarray, idx: np.ndarray, first_row: int, drop_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """A raw FAISS result made to follow the tie-break and, for a self-search, to skip the query."""
    for start in range(0, idx.shape[0], _ROWS_PER_BLOCK):
        block = slice(start, start + _ROWS_PER_BLOCK)
        _sort_rows_by_distance_then_index(dist[block], idx[block])
        if drop_self:
            own = np.arange(first_row + start, first_row + start + idx[block].shape[0], dtype=np.int64)
            _move_own_index_first(idx[block], dist[block], own)
    return (dist[:, 1:], idx[:, 1:]) if drop_self else (dist, idx)


def knn_search(
    queries: np.ndarray,
    database: np.ndarray | None = None,
    k: int | None = None,
    *,
    exclude_self: bool = True,
    chunk_size: int | None = 8192,
    metric: str = "l2",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours: (squared L2 distances float32, indices int64), each (n_queries, k).

    With ``database=None`` the queries are searched against themselves and, if ``exclude_self``,
    each query's own index is removed from its list (``exclude_self`` only applies then).
    ``metric="cosine"`` L2-normalises both sides first (distances are then 2 - 2 cos).
    Queries are searched ``chunk_size`` at a time (None: all in one FAISS call, which allocates the
    whole result only once; the arrays returned may then be views). See the module note on rounding.
    """
    if database is not None and not isinstance(database, np.ndarray):
        raise SmartMiningError(
            f"database must be a 2-D numpy array or None, got {type(database).__name__}; pass k by keyword"
        )
    if k is None:
        raise SmartMiningError("k (number of neighbours) is required; pass it as k=...")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise SmartMiningError(f"k must be a positive integer, got {k!r}")
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1
    ):
        raise SmartMiningError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    if metric not in _METRICS:
        raise SmartMiningError(f"metric must be one of {_METRICS}, got {metric!r}")

    q = _as_float32_matrix(queries, "queries")
    self_search = database is None
    db = q if self_search else _as_float32_matrix(database, "database")
    if db.shape[1] != q.shape[1]:
        raise SmartMiningError(
            f"queries and database must have the same dimension, got {q.shape[1]} and {db.shape[1]}"
        )
    if metric == "cosine":
        q = _l2_normalised(q)
        db = q if self_search else _l2_normalised(db)

    drop_self = self_search and exclude_self
    n_db = db.shape[0]
    available = n_db - 1 if drop_self else n_db
    if k > available:
        what = "N - 1 (the query itself is excluded)" if drop_self else "N"
        raise SmartMiningError(f"k must be at most {what}: got k={k} with N={n_db} database points")

    index = faiss.IndexFlatL2(db.shape[1])
    index.add(db)
    width = k + 1 if drop_self else k
    n_q = q.shape[0]
    if chunk_size is None or chunk_size >= n_q:
        return _finished(*index.search(q, width), 0, drop_self)
    distances = np.empty((n_q, k), dtype=np.float32)
    indices = np.empty((n_q, k), dtype=np.int64)
    for start in range(0, n_q, chunk_size):
        stop = min(start + chunk_size, n_q)
        distances[start:stop], indices[start:stop] = _finished(*index.search(q[start:stop], width), start, drop_self)
    return distances, indices


def kmeans_labels(x: np.ndarray, n_clusters: int, *, seed: int, niter: int = 20) -> np.ndarray:
    """Cluster the rows of ``x`` with faiss.Kmeans; returns each row's cluster id (int64, shape (n,))."""
    data = _as_float32_matrix(x, "x")
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise SmartMiningError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    if n_clusters > data.shape[0]:
        raise SmartMiningError(f"n_clusters must be at most the number of points: got {n_clusters} > {data.shape[0]}")
    if isinstance(niter, bool) or not isinstance(niter, (int, np.integer)) or niter < 1:
        raise SmartMiningError(f"niter must be a positive integer, got {niter!r}")
    # min_points_per_centroid=1 silences FAISS's "please provide at least 39*k points" warning;
    # evaluation clusters exactly the test set whatever its size.
    kmeans = faiss.Kmeans(
        data.shape[1], int(n_clusters), niter=int(niter), seed=int(seed), verbose=False, min_points_per_centroid=1
    )
    kmeans.train(data)
    _, assignment = kmeans.index.search(data, 1)
    return assignment[:, 0].astype(np.int64)
