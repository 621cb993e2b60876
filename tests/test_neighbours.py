from __future__ import annotations

import numpy as np
import pytest

from smartmining.errors import SmartMiningError
from smartmining.evaluation.clustering import kmeans_labels
from smartmining.neighbours import knn_search


def oracle_knn(queries: np.ndarray, database: np.ndarray, k: int, skip_own: bool, rows=None):
    """Plain loops: every distance, each row sorted by (distance, index), the query's own index skipped."""
    q = queries.astype(np.float64).tolist()
    db = database.astype(np.float64).tolist()
    out_d, out_i = [], []
    for i in range(len(q)) if rows is None else rows:
        dists = []
        for j in range(len(db)):
            if skip_own and j == i:
                continue
            dists.append((sum((a - b) ** 2 for a, b in zip(q[i], db[j])), j))
        dists.sort()
        out_d.append([d for d, _ in dists[:k]])
        out_i.append([j for _, j in dists[:k]])
    return np.array(out_d), np.array(out_i)


def tied_points(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Small integers: float32 distances are exact, so ties (and duplicate rows) are exact ties."""
    return rng.integers(-1, 2, size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("n, d, k", [(40, 2, 5), (60, 3, 12), (25, 1, 24), (80, 4, 1)])
def test_self_search_matches_oracle_with_ties(n, d, k):
    x = tied_points(np.random.default_rng(n + d + k), n, d)
    idx, dist = knn_search(x, k=k)
    want_d, want_i = oracle_knn(x, x, k, skip_own=True)
    assert dist.dtype == np.float32 and idx.dtype == np.int64
    assert dist.shape == idx.shape == (n, k)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_array_equal(dist, want_d)


def test_boundary_ties_keep_lowest_indices_across_faiss_blocks():
    # More than 1024 database rows and 20 queries: FAISS's blocked BLAS path.
    x = tied_points(np.random.default_rng(7), 1500, 2)
    idx, dist = knn_search(x, k=40)
    rows = list(range(0, 1500, 37))
    want_d, want_i = oracle_knn(x, x, 40, skip_own=True, rows=rows)
    np.testing.assert_array_equal(idx[rows], want_i)
    np.testing.assert_array_equal(dist[rows], want_d)


def test_external_database_matches_oracle_and_keeps_all_points():
    rng = np.random.default_rng(3)
    q, db = tied_points(rng, 30, 3), tied_points(rng, 50, 3)
    idx, dist = knn_search(q, db, 50)
    want_d, want_i = oracle_knn(q, db, 50, skip_own=False)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_array_equal(dist, want_d)


def test_self_excluded_by_index_with_duplicate_rows():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 8)).astype(np.float32)
    # Row 0 appears 6 times: with k=3, rows after the 4th copy do not see themselves among k+1.
    x = np.concatenate([np.repeat(base[:1], 6, axis=0), base[1:], base[1:5]])
    idx, dist = knn_search(x, k=3)
    for i in range(len(x)):
        assert i not in idx[i]
    copies = list(range(6))
    for i in copies:
        assert idx[i].tolist() == [j for j in copies if j != i][:3]
        assert np.all(dist[i] < 1e-4)
    # Rows 1..4 of base are duplicated at the end: each copy's nearest is its twin.
    for offset in range(4):
        a, b = 6 + offset, len(x) - 4 + offset
        assert idx[a, 0] == b and idx[b, 0] == a


def test_never_drops_first_column_blindly():
    # All rows identical: every query ties with every other at 0; the self entry must go, not column 0.
    x = np.ones((5, 3), dtype=np.float32)
    idx, _ = knn_search(x, k=4)
    for i in range(5):
        assert idx[i].tolist() == [j for j in range(5) if j != i]


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_chunked_equals_unchunked(chunk_size):
    rng = np.random.default_rng(11)
    for x in (rng.normal(size=(150, 8)).astype(np.float32), tied_points(rng, 150, 3)):
        i_full, d_full = knn_search(x, k=10, chunk_size=8192)
        i_chunk, d_chunk = knn_search(x, k=10, chunk_size=chunk_size)
        np.testing.assert_array_equal(i_chunk, i_full)
        np.testing.assert_allclose(d_chunk, d_full, rtol=1e-5, atol=1e-5)


def test_cosine_is_l2_on_normalised_vectors():
    x = np.random.default_rng(5).normal(size=(100, 6)).astype(np.float32)
    i_cos, d_cos = knn_search(x, k=5, metric="cosine")
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    i_l2, d_l2 = knn_search(unit, k=5)
    np.testing.assert_array_equal(i_cos, i_l2)
    np.testing.assert_allclose(d_cos, d_l2, atol=1e-6)


def test_k_too_large_names_k_and_n():
    x = np.zeros((10, 2), dtype=np.float32)
    with pytest.raises(SmartMiningError, match=r"k=10 .*N=10"):
        knn_search(x, k=10)
    with pytest.raises(SmartMiningError, match=r"k=11 .*N=10"):
        knn_search(x[:3], x, 11)
    assert knn_search(x, k=9)[0].shape == (10, 9)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: knn_search(x), "k"),
        (lambda x: knn_search(x, k=0), "k must be a positive"),
        (lambda x: knn_search(x[0], k=1), "queries must be a 2-D"),
        (lambda x: knn_search(np.where(x > 0, np.nan, x), k=1), "queries contains NaN"),
        (lambda x: knn_search(x, x[:, :2], 1), "same dimension"),
        (lambda x: knn_search(x, k=1, chunk_size=0), "chunk_size"),
        (lambda x: knn_search(x, k=1, metric="manhattan"), "metric"),
        (lambda x: knn_search(x, 3), "database must be"),
    ],
)
def test_bad_input_errors(call, message):
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    with pytest.raises(SmartMiningError, match=message):
        call(x)


def test_kmeans_labels_are_a_seeded_lloyd_fixed_point():
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=10.0, size=(6, 4))
    x = (centres[np.repeat(np.arange(6), 30)] + rng.normal(size=(180, 4))).astype(np.float32)
    a = kmeans_labels(x, 6, seed=1)
    assert a.shape == (180,) and a.dtype == np.int64 and set(a.tolist()) <= set(range(6))
    # Converged k-means: every point is nearest to the mean of its own cluster.
    used = np.unique(a)
    means = np.stack([x[a == c].mean(axis=0) for c in used])
    nearest = used[np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)]
    np.testing.assert_array_equal(nearest, a)
    np.testing.assert_array_equal(kmeans_labels(x, 6, seed=1), a)


def test_kmeans_bad_input():
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(SmartMiningError, match="n_clusters"):
        kmeans_labels(x, 5, seed=0)
    with pytest.raises(SmartMiningError, match="niter"):
        kmeans_labels(x, 2, seed=0, niter=0)


def test_rows_out_of_order_are_resorted_by_distance_then_index():
    # FAISS returns sorted rows; the fallback re-sort must still follow the documented tie-break.
    from smartmining.neighbours.search import _sort_rows_by_distance_then_index

    rng = np.random.default_rng(9)
    dist = rng.integers(0, 3, size=(30, 6)).astype(np.float32)
    idx = np.stack([rng.permutation(50)[:6] for _ in range(30)]).astype(np.int64)
    got_d, got_i = _sort_rows_by_distance_then_index(dist.copy(), idx.copy())
    for row in range(30):
        want = sorted(zip(dist[row].tolist(), idx[row].tolist()))
        assert list(zip(got_d[row].tolist(), got_i[row].tolist())) == want
