"""Our metric values equal pytorch-metric-learning's AccuracyCalculator (2.9) on the same embeddings.

The claim behind benchmarks/bench_vs_pml.py, checked on small data. PML is called as that script calls
it: query = reference with ref_includes_query=True (each query excluded by index), k="max_bin_count"
(else its MAP@R and R-precision are cut short), per-sample means (avg_of_avgs=False), an exact FAISS
flat L2 search, and FAISS k-means with its default seed 1234, which we pass as our seed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import FaissKMeans, FaissKNN

from smartmining.evaluation import evaluate, kmeans_labels, nmi

OURS_TO_PML = {"recall@1": "precision_at_1", "map@r": "mean_average_precision_at_r",
               "r_precision": "r_precision", "nmi": "NMI"}
SEED = 1234  # faiss.Kmeans's default, left in place by PML's FaissKMeans


def pml_values(x: np.ndarray, labels: np.ndarray, kmeans_func=None) -> dict[str, float]:
    calculator = AccuracyCalculator(
        include=tuple(OURS_TO_PML.values()), exclude=(), k="max_bin_count", device=torch.device("cpu"),
        knn_func=FaissKNN(), kmeans_func=kmeans_func or FaissKMeans(niter=20, gpu=False, min_points_per_centroid=1),
    )
    xt, lt = torch.from_numpy(x), torch.from_numpy(labels)
    out = calculator.get_accuracy(xt, lt, xt, lt, ref_includes_query=True)
    return {ours: float(out[theirs]) for ours, theirs in OURS_TO_PML.items()}


def our_values(x: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return evaluate(x, labels, ks=(1,), seed=SEED)


def blobs_with_lone_classes(seed: int, d: int, n: int = 500, n_classes: int = 30, lone: int = 6, noise: float = 1.2):
    """Overlapping unit-norm blobs, plus ``lone`` classes of a single sample (queries nobody can answer)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n - lone)
    labels = np.concatenate([labels, np.arange(n_classes, n_classes + lone)])
    centres = rng.standard_normal((n_classes + lone, d))
    x = (centres[labels] + noise * rng.standard_normal((n, d))).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def assert_same(ours: dict[str, float], theirs: dict[str, float]) -> None:
    for name in OURS_TO_PML:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-9), name


@pytest.mark.parametrize("seed, d, noise", [(0, 8, 1.2), (1, 32, 1.8), (2, 128, 2.6)])
def test_values_equal_pml_with_lone_classes(seed, d, noise):
    x, labels = blobs_with_lone_classes(seed, d, noise=noise)
    ours = our_values(x, labels)
    assert 0.05 < ours["map@r"] < 0.95 and 0.05 < ours["recall@1"] < 0.95  # non-trivial data
    assert_same(ours, pml_values(x, labels))


def test_lone_queries_are_left_out_by_both():
    # Both leave out queries whose class has no other sample (they stay in the reference set): counting
    # them as misses would lower Recall@1 by exactly their share.
    x, labels = blobs_with_lone_classes(3, 16)
    answerable = np.bincount(labels)[labels] > 1
    ours, theirs = our_values(x, labels), pml_values(x, labels)
    assert ours["recall@1"] == pytest.approx(theirs["recall@1"], abs=1e-12)
    counted_as_misses = ours["recall@1"] * answerable.mean()
    assert counted_as_misses < ours["recall@1"] - 1e-3


def test_exact_ties_and_duplicate_points_give_the_same_values():
    # Small integer coordinates: float32 distances tie exactly and many points coincide. FAISS orders
    # tied neighbours by index, as we do, and both drop the query's own index (else the last column).
    rng = np.random.default_rng(4)
    x = rng.integers(-1, 2, size=(500, 4)).astype(np.float32)
    labels = rng.integers(0, 30, size=500)
    assert_same(our_values(x, labels), pml_values(x, labels))


def test_nmi_equal_on_one_shared_clustering():
    x, labels = blobs_with_lone_classes(5, 16)
    clusters = kmeans_labels(x, int(np.unique(labels).size), seed=7)
    theirs = pml_values(x, labels, kmeans_func=lambda emb, k: torch.from_numpy(clusters))
    assert nmi(clusters, labels) == pytest.approx(theirs["nmi"], abs=1e-12)


def test_pml_merges_integer_labels_above_2_to_the_24():
    # A definitional difference: PML casts labels to float32, so labels 2**24 and 2**24 + 1 become one
    # class there; we keep every distinct label. Below 2**24 (any realistic class count) both agree.
    x, labels = blobs_with_lone_classes(6, 16, lone=0)
    shifted = labels.astype(np.int64) + 2**24
    assert_same(our_values(x, shifted), our_values(x, labels))
    assert pml_values(x, shifted)["map@r"] != pytest.approx(our_values(x, labels)["map@r"], abs=1e-3)
