"""k-means clustering of embeddings through FAISS (for NMI)."""

from __future__ import annotations

import faiss
import numpy as np

from smartmining.errors import SmartMiningError
from smartmining.neighbours.search import as_float32_matrix


def kmeans_labels(x: np.ndarray, n_clusters: int, *, seed: int, niter: int = 20) -> np.ndarray:
    """Cluster the rows of ``x`` with faiss.Kmeans; returns each row's cluster id (int64, shape (n,))."""
    data = as_float32_matrix(x, "x")
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
