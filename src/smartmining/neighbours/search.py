"""k nearest neighbours through FAISS, exact or approximate, in one return order: (ids, squared distances).

Tie-break: neighbours are ordered by (squared distance, database index), ascending. FAISS's exact
flat search already keeps the lowest indices among neighbours tied at the k-th distance (checked
against a brute-force oracle in tests/test_neighbours.py); within the returned window we re-sort
explicitly so the order never depends on FAISS internals. Approximate indexes may return fewer than
k: missing entries are id -1 with distance inf, last in their row.

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


def as_float32_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as a C-contiguous float32 (n, d) array; SmartMiningError naming ``name`` if it is not one."""
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


def _finished(dist: np.ndarray, idx: np.ndarray, own: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A raw FAISS result made to follow the tie-break and, given ``own`` ids, to skip each query's own entry."""
    for start in range(0, idx.shape[0], _ROWS_PER_BLOCK):
        block = slice(start, start + _ROWS_PER_BLOCK)
        dist[block][idx[block] < 0] = np.inf  # missing entries of approximate indexes: last in the order
        _sort_rows_by_distance_then_index(dist[block], idx[block])
        if own is not None:
            _move_own_index_first(idx[block], dist[block], own[block])
    return (idx[:, 1:], dist[:, 1:]) if own is not None else (idx, dist)


def _check_k(k: object, n: int, drop_self: bool) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise SmartMiningError(f"k must be a positive integer, got {k!r}")
    available = n - 1 if drop_self else n
    if k > available:
        what = "N - 1, the query itself is excluded" if drop_self else "N"
        raise SmartMiningError(f"k must be in [1, {available}] ({what}): got k={k} with N={n} database points")
    return int(k)


def search(
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    exclude_self_ids: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k nearest in ``index``: (ids int64 (q, k), squared distances float32 (q, k)), nearest first.

    With ``exclude_self_ids`` (the queries' own ids in the index) each query's own entry is dropped
    (k + 1 are fetched; where the query is not among them, the last one is dropped). Rows follow the
    module's tie-break; missing entries (approximate indexes) are id -1, distance inf. Queries go to
    FAISS ``chunk_size`` at a time (None: one call; see the module note on rounding).
    """
    q = as_float32_matrix(queries, "queries")
    if q.shape[1] != index.d:
        raise SmartMiningError(f"queries must have shape (q, {index.d}), got {q.shape}")
    own = None
    if exclude_self_ids is not None:
        own = np.asarray(exclude_self_ids, dtype=np.int64)
        if own.shape != (len(q),):
            raise SmartMiningError(f"exclude_self_ids must have shape ({len(q)},), got {own.shape}")
    k = _check_k(k, index.ntotal, own is not None)
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1
    ):
        raise SmartMiningError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    width = k + 1 if own is not None else k
    n_q = len(q)
    if chunk_size is None or chunk_size >= n_q:
        dist, idx = index.search(q, width)
        return _finished(dist, idx, own)
    ids = np.empty((n_q, k), dtype=np.int64)
    sqdist = np.empty((n_q, k), dtype=np.float32)
    for start in range(0, n_q, chunk_size):
        stop = min(start + chunk_size, n_q)
        dist, idx = index.search(q[start:stop], width)
        ids[start:stop], sqdist[start:stop] = _finished(dist, idx, None if own is None else own[start:stop])
    return ids, sqdist


def knn_search(
    queries: np.ndarray,
    database: np.ndarray | None = None,
    k: int | None = None,
    *,
    exclude_self: bool = True,
    chunk_size: int | None = 8192,
    metric: str = "l2",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours: (indices int64, squared L2 distances float32), each (n_queries, k).

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
    if metric not in _METRICS:
        raise SmartMiningError(f"metric must be one of {_METRICS}, got {metric!r}")
    q = as_float32_matrix(queries, "queries")
    self_search = database is None
    db = q if self_search else as_float32_matrix(database, "database")
    if db.shape[1] != q.shape[1]:
        raise SmartMiningError(
            f"queries and database must have the same dimension, got {q.shape[1]} and {db.shape[1]}"
        )
    if metric == "cosine":
        q = _l2_normalised(q)
        db = q if self_search else _l2_normalised(db)
    _check_k(k, db.shape[0], self_search and exclude_self)
    index = faiss.IndexFlatL2(db.shape[1])
    index.add(db)
    own = np.arange(len(q), dtype=np.int64) if self_search and exclude_self else None
    return search(index, q, k, own, chunk_size)
