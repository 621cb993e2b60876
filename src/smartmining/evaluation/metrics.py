"""Retrieval and clustering metrics of test embeddings, computed from one shared neighbour search.

Design after Roth et al.'s "metric computer": each `Metric` declares what it needs (``{"knn": k}``
neighbours and/or ``{"clustering": n_clusters}``); `evaluate` runs ONE exact neighbour search with
the largest k asked for and ONE k-means, and hands both to every metric.

Definitions (N test embeddings, Euclidean distance, the query excluded by its index):
- Recall@K: fraction of queries with at least one sample of their class among their K nearest others
  (PAPER.md section 7).
- MAP@R, R-precision: as Musgrave et al., "A Metric Learning Reality Check" (ECCV 2020) and
  pytorch-metric-learning's AccuracyCalculator; R = number of other samples of the query's class.
- NMI: of k-means (k = number of classes) against the labels, arithmetic-mean normalisation.
Queries whose class has no other sample can never be answered right: like pytorch-metric-learning we
exclude them from Recall@K, MAP@R and R-precision (not from NMI, which clusters every sample).
Neighbours tied in distance are ordered by index (see smartmining/neighbours/search.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from smartmining.errors import SmartMiningError
from smartmining import neighbours
from smartmining.evaluation import clustering

# Rows of the (queries x R) relevance matrix handled at once, to bound memory in MAP@R.
_ELEMENTS_PER_CHUNK = 1 << 22


# ---------------------------------------------------------------------------------------------
# Pure helpers: labels of the nearest other samples in, numbers out.


def _same_class_others(labels: np.ndarray) -> np.ndarray:
    """R per query: how many other samples share its class."""
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return counts[codes.reshape(-1)] - 1


def _check_neighbour_labels(nbr_labels: np.ndarray, labels: np.ndarray, needed: int, why: str) -> None:
    if nbr_labels.ndim != 2 or labels.ndim != 1 or nbr_labels.shape[0] != labels.shape[0]:
        raise SmartMiningError(
            f"nbr_labels must be (N, k) and labels (N,), got {nbr_labels.shape} and {labels.shape}"
        )
    if nbr_labels.shape[1] < needed:
        raise SmartMiningError(f"nbr_labels has {nbr_labels.shape[1]} columns, {why} needs {needed}")


def _answerable(r: np.ndarray) -> np.ndarray:
    valid = r > 0
    if not valid.any():
        raise SmartMiningError("labels: no class has two samples, so no query has a correct neighbour")
    return valid


def recall_at_k(nbr_labels: np.ndarray, labels: np.ndarray, ks: Iterable[int]) -> dict[str, float]:
    """{"recall@K": fraction of answerable queries with a same-class sample among their K nearest}."""
    nbr_labels, labels = np.asarray(nbr_labels), np.asarray(labels)
    ks = _checked_ks(ks)
    _check_neighbour_labels(nbr_labels, labels, max(ks), f"recall@{max(ks)}")
    valid = _answerable(_same_class_others(labels))
    matches = nbr_labels[valid, : max(ks)] == labels[valid, None]
    # Rank of the first correct neighbour; max(ks) when there is none.
    first_hit = np.where(matches.any(axis=1), matches.argmax(axis=1), max(ks))
    return {f"recall@{k}": float(np.mean(first_hit < k)) for k in ks}


def _relevance_within_r(nbr_labels: np.ndarray, labels: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of (relevant: (n, R_max) bool, zero beyond each row's R; R: (n,)) over answerable queries."""
    nbr_labels, labels = np.asarray(nbr_labels), np.asarray(labels)
    r = _same_class_others(labels)
    valid = _answerable(r)
    r_max = int(r.max())
    _check_neighbour_labels(nbr_labels, labels, r_max, "MAP@R / R-precision (R = largest class size - 1)")
    rows = np.flatnonzero(valid)
    step = max(1, _ELEMENTS_PER_CHUNK // r_max)
    within_r = np.arange(r_max)
    for start in range(0, rows.size, step):
        chunk = rows[start : start + step]
        relevant = nbr_labels[chunk, :r_max] == labels[chunk, None]
        relevant &= within_r[None, :] < r[chunk, None]
        yield relevant, r[chunk]


def map_at_r(nbr_labels: np.ndarray, labels: np.ndarray) -> float:
    """MAP@R: mean over answerable queries of sum_{i<=R} P@i * rel_i / R (Musgrave et al. 2020)."""
    total, count = 0.0, 0
    for relevant, r in _relevance_within_r(nbr_labels, labels):
        precision_at_i = np.cumsum(relevant, axis=1) / np.arange(1, relevant.shape[1] + 1)
        total += float(np.sum(np.sum(precision_at_i * relevant, axis=1) / r))
        count += r.size
    return total / count


def r_precision(nbr_labels: np.ndarray, labels: np.ndarray) -> float:
    """R-precision: mean over answerable queries of (same-class samples among the R nearest) / R."""
    total, count = 0.0, 0
    for relevant, r in _relevance_within_r(nbr_labels, labels):
        total += float(np.sum(relevant.sum(axis=1) / r))
        count += r.size
    return total / count


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))


def nmi(cluster_labels: np.ndarray, labels: np.ndarray) -> float:
    """Normalised mutual information, MI / mean(H(clusters), H(labels)), natural log, as sklearn's default."""
    cluster_labels, labels = np.asarray(cluster_labels), np.asarray(labels)
    if cluster_labels.ndim != 1 or cluster_labels.shape != labels.shape:
        raise SmartMiningError(
            f"cluster_labels and labels must be 1-D of the same length, got {cluster_labels.shape} and {labels.shape}"
        )
    _, clusters = np.unique(cluster_labels, return_inverse=True)
    _, classes = np.unique(labels, return_inverse=True)
    n_clusters, n_classes = int(clusters.max()) + 1, int(classes.max()) + 1
    # sklearn's convention: two identical one-block partitions agree perfectly.
    if n_clusters == n_classes == 1:
        return 1.0
    table = np.bincount(clusters * n_classes + classes, minlength=n_clusters * n_classes)
    table = table.reshape(n_clusters, n_classes).astype(np.float64)
    n = table.sum()
    a, b = table.sum(axis=1), table.sum(axis=0)
    i, j = np.nonzero(table)
    nij = table[i, j]
    mutual_info = float(np.sum(nij / n * (np.log(nij) + np.log(n) - np.log(a[i]) - np.log(b[j]))))
    if mutual_info <= 0.0:
        return 0.0
    normaliser = max((_entropy(a) + _entropy(b)) / 2.0, np.finfo(np.float64).eps)
    return min(mutual_info / normaliser, 1.0)


# ---------------------------------------------------------------------------------------------
# Metric objects: declare needs, compute from the shared results.


@dataclass(frozen=True)
class SharedResults:
    """What `evaluate` computes once for all metrics."""

    labels: np.ndarray  # (N,) class codes
    nbr_labels: np.ndarray | None  # (N, k) class codes of the k nearest other samples, or None
    cluster_labels: np.ndarray | None  # (N,) k-means cluster ids, or None


class Metric:
    """A metric: the result names it produces and what it needs from the shared computation."""

    names: tuple[str, ...] = ()

    def requires(self, labels: np.ndarray) -> dict[str, int]:
        """{"knn": neighbours needed} and/or {"clustering": clusters needed}, given the labels."""
        raise NotImplementedError

    def compute(self, shared: SharedResults) -> dict[str, float]:
        raise NotImplementedError


class Recall(Metric):
    def __init__(self, ks: Iterable[int] = (1, 2, 4, 8)) -> None:
        self.ks = _checked_ks(ks)
        self.names = tuple(f"recall@{k}" for k in self.ks)

    def requires(self, labels: np.ndarray) -> dict[str, int]:
        return {"knn": max(self.ks)}

    def compute(self, shared: SharedResults) -> dict[str, float]:
        return recall_at_k(shared.nbr_labels, shared.labels, self.ks)


class NMI(Metric):
    names = ("nmi",)

    def requires(self, labels: np.ndarray) -> dict[str, int]:
        return {"clustering": int(np.unique(labels).size)}

    def compute(self, shared: SharedResults) -> dict[str, float]:
        return {"nmi": nmi(shared.cluster_labels, shared.labels)}


class _WithinR(Metric):
    """Metrics over the R nearest others, R = size of the query's class - 1."""

    def requires(self, labels: np.ndarray) -> dict[str, int]:
        return {"knn": int(_same_class_others(labels).max())}


class MAPatR(_WithinR):
    names = ("map@r",)

    def compute(self, shared: SharedResults) -> dict[str, float]:
        return {"map@r": map_at_r(shared.nbr_labels, shared.labels)}


class RPrecision(_WithinR):
    names = ("r_precision",)

    def compute(self, shared: SharedResults) -> dict[str, float]:
        return {"r_precision": r_precision(shared.nbr_labels, shared.labels)}


METRIC_NAMES = ("recall", "nmi", "map@r", "r_precision")


def _make_metric(name: str, ks: tuple[int, ...]) -> Metric:
    if name == "recall":
        return Recall(ks)
    if name == "nmi":
        return NMI()
    if name == "map@r":
        return MAPatR()
    if name == "r_precision":
        return RPrecision()
    raise SmartMiningError(f"metrics: unknown metric {name!r}, expected some of {METRIC_NAMES}")


# ---------------------------------------------------------------------------------------------
# Entry point.


def _checked_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise SmartMiningError(f"ks must be a non-empty sequence of positive integers, got {ks!r}")
    return tuple(dict.fromkeys(int(k) for k in ks))


def _checked_inputs(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Validate; return labels as class codes 0..C-1."""
    if not isinstance(embeddings, np.ndarray) or embeddings.ndim != 2 or 0 in embeddings.shape:
        raise SmartMiningError(
            f"embeddings must be a non-empty 2-D numpy array (N, d), got shape {getattr(embeddings, 'shape', None)}"
        )
    if not np.issubdtype(embeddings.dtype, np.floating):
        raise SmartMiningError(f"embeddings must be floating point, got dtype {embeddings.dtype}")
    if not np.isfinite(embeddings).all():
        raise SmartMiningError("embeddings contain NaN or inf")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise SmartMiningError(
            f"labels must be 1-D with one label per embedding ({embeddings.shape[0]}), got shape {labels.shape}"
        )
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise SmartMiningError("labels contain NaN or inf")
    _, codes = np.unique(labels, return_inverse=True)
    if codes.max() < 1:
        raise SmartMiningError("labels must contain at least 2 classes, got 1")
    return codes.reshape(-1).astype(np.int32)


def evaluate(
    embeddings: np.ndarray,
    labels: np.ndarray,
    *,
    ks: Sequence[int] = (1, 2, 4, 8),
    metrics: Sequence[str] = METRIC_NAMES,
    seed: int = 0,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """Metrics of test embeddings: {"recall@K" for K in ks, "nmi", "map@r", "r_precision"} as fractions.

    One exact neighbour search (k = the most any metric needs) and one k-means (k = number of
    classes, ``seed``) feed every metric. The search takes all queries in one FAISS call unless
    ``chunk_size`` is given (see smartmining/neighbours/search.py on rounding); memory is about N * (k + 1) * 12 bytes for
    FAISS's result, then N * k * (1 to 4) for the neighbours' class codes.
    """
    codes = _checked_inputs(embeddings, labels)
    # The narrowest integer type: the N x k neighbour labels take less memory and compare faster.
    codes = codes.astype(np.min_scalar_type(int(codes.max())))
    if isinstance(metrics, str) or not metrics:
        raise SmartMiningError(f"metrics must be a non-empty sequence of names from {METRIC_NAMES}, got {metrics!r}")
    chosen = [_make_metric(name, _checked_ks(ks)) for name in dict.fromkeys(metrics)]
    needs = [m.requires(codes) for m in chosen]
    if any("knn" in need for need in needs):
        _answerable(_same_class_others(codes))

    knn_k = max((need["knn"] for need in needs if "knn" in need), default=0)
    nbr_labels = None
    if knn_k:
        # Keep only the indices (distances freed at once), then only their class codes.
        indices = neighbours.knn_search(embeddings, None, knn_k, exclude_self=True, chunk_size=chunk_size)[0]
        nbr_labels = codes[indices]
        del indices

    n_clusters = max((need["clustering"] for need in needs if "clustering" in need), default=0)
    cluster_labels = clustering.kmeans_labels(embeddings, n_clusters, seed=seed) if n_clusters else None

    shared = SharedResults(labels=codes, nbr_labels=nbr_labels, cluster_labels=cluster_labels)
    results: dict[str, float] = {}
    for metric in chosen:
        results.update(metric.compute(shared))
    return results
