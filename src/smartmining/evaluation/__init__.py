"""Evaluation of test embeddings: exact neighbour search, k-means, Recall@K, NMI, MAP@R, R-precision."""

from __future__ import annotations

from smartmining.evaluation.metrics import (
    MAPatR,
    NMI,
    Metric,
    Recall,
    RPrecision,
    evaluate,
    map_at_r,
    nmi,
    r_precision,
    recall_at_k,
)
from smartmining.evaluation.clustering import kmeans_labels
from smartmining.neighbours import knn_search

__all__ = [
    "MAPatR",
    "NMI",
    "Metric",
    "RPrecision",
    "Recall",
    "evaluate",
    "kmeans_labels",
    "knn_search",
    "map_at_r",
    "nmi",
    "r_precision",
    "recall_at_k",
]
