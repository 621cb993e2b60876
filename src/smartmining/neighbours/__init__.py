"""One neighbour search for evaluation and mining: exact and approximate FAISS indexes, results as (ids, sqdist)."""

from __future__ import annotations

from smartmining.neighbours.index import (
    AUTO,
    AUTO_EXACT_BELOW,
    INDEX_KINDS,
    ReusedIndex,
    build_index,
    index_recall,
    index_settings,
    resolve_kind,
    train_centroids,
)
from smartmining.neighbours.search import knn_search, search

__all__ = [
    "AUTO",
    "AUTO_EXACT_BELOW",
    "INDEX_KINDS",
    "ReusedIndex",
    "build_index",
    "index_recall",
    "index_settings",
    "knn_search",
    "resolve_kind",
    "search",
    "train_centroids",
]
