from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from smartmining.errors import SmartMiningError
from smartmining import neighbours
from smartmining.evaluation import clustering
from smartmining.evaluation.metrics import (
    MAPatR,
    NMI,
    Recall,
    RPrecision,
    evaluate,
    map_at_r,
    nmi,
    r_precision,
    recall_at_k,
)


def oracle_ranked_labels(x: np.ndarray, labels: np.ndarray) -> list[list]:
    """Plain loops: for each query, the labels of all OTHER points by (distance, index)."""
    pts, labs = x.astype(np.float64).tolist(), labels.tolist()
    ranked = []
    for i in range(len(pts)):
        order = sorted(
            (sum((a - b) ** 2 for a, b in zip(pts[i], pts[j])), j) for j in range(len(pts)) if j != i
        )
        ranked.append([labs[j] for _, j in order])
    return ranked


def oracle_metrics(x: np.ndarray, labels: np.ndarray, ks) -> dict[str, float]:
    """Recall@K, MAP@R, R-precision by plain loops, skipping queries whose class has no other sample."""
    ranked, labs = oracle_ranked_labels(x, labels), labels.tolist()
    hits = {k: 0 for k in ks}
    ap_sum = rp_sum = 0.0
    counted = 0
    for i, row in enumerate(ranked):
        r = labs.count(labs[i]) - 1
        if r == 0:
            continue
        counted += 1
        for k in ks:
            hits[k] += labs[i] in row[:k]
        found, precision_sum = 0, 0.0
        for pos in range(r):
            if row[pos] == labs[i]:
                found += 1
                precision_sum += found / (pos + 1)
        ap_sum += precision_sum / r
        rp_sum += found / r
    out = {f"recall@{k}": hits[k] / counted for k in ks}
    out["map@r"] = ap_sum / counted
    out["r_precision"] = rp_sum / counted
    return out


def tied_data(seed: int, n: int = 90, d: int = 3, n_classes: int = 7):
    """Small-integer embeddings (exact float32 distances: real ties) with repeated rows, and labels
    that include a singleton class."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, size=(n, d)).astype(np.float32)
    x[n // 2 : n // 2 + 10] = x[:10]  # exact duplicates, often with different labels
    labels = rng.integers(0, n_classes, size=n)
    labels[-1] = n_classes  # a class with one sample: excluded from the retrieval metrics
    return x, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluate_matches_oracle_with_ties_and_duplicates(seed):
    x, labels = tied_data(seed)
    got = evaluate(x, labels, ks=(1, 2, 4, 8, 16))
    want = oracle_metrics(x, labels, (1, 2, 4, 8, 16))
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_evaluate_matches_oracle_on_float_data():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, size=70)
    x = (rng.normal(size=(70, 6)) + 0.8 * np.eye(5, 6)[labels]).astype(np.float32)
    got = evaluate(x, labels, ks=(1, 3, 5))
    want = oracle_metrics(x, labels, (1, 3, 5))
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_pure_helpers_match_oracle_on_oracle_neighbours():
    x, labels = tied_data(5, n=60)
    ranked = np.array(oracle_ranked_labels(x, labels))
    want = oracle_metrics(x, labels, (1, 2, 4))
    got = recall_at_k(ranked[:, :4], labels, (1, 2, 4))
    assert got == pytest.approx({k: v for k, v in want.items() if k.startswith("recall")})
    assert map_at_r(ranked, labels) == pytest.approx(want["map@r"])
    assert r_precision(ranked, labels) == pytest.approx(want["r_precision"])


def test_map_at_r_and_r_precision_by_hand():
    # Query 0 (class 0, R=3) sees [0, 1, 0]; queries 1-3 (class 0) see their class first; class 1
    # queries see [1, 0, 0, 0] with R=1.
    labels = np.array([0, 0, 0, 0, 1, 1])
    nbr = np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]])
    ap0 = (1 / 1 + 2 / 3) / 3
    assert map_at_r(nbr, labels) == pytest.approx((ap0 + 1 + 1 + 1 + 1 + 0) / 6)
    assert r_precision(nbr, labels) == pytest.approx((2 / 3 + 1 + 1 + 1 + 1 + 0) / 6)
    assert recall_at_k(nbr, labels, (1, 2)) == pytest.approx({"recall@1": 5 / 6, "recall@2": 1.0})


def test_helpers_reject_too_few_neighbour_columns():
    labels = np.array([0, 0, 0, 1, 1])
    nbr = np.zeros((5, 1), dtype=int)
    with pytest.raises(SmartMiningError, match="needs 2"):
        map_at_r(nbr, labels)
    with pytest.raises(SmartMiningError, match="needs 4"):
        recall_at_k(nbr, labels, (4,))


def test_nmi_matches_sklearn():
    rng = np.random.default_rng(0)
    for n_clusters, n_classes in [(5, 5), (3, 8), (20, 4), (1, 3), (2, 1)]:
        a, b = rng.integers(0, n_clusters, 300), rng.integers(0, n_classes, 300)
        assert nmi(a, b) == pytest.approx(normalized_mutual_info_score(b, a), abs=1e-12)
    assert nmi(np.zeros(4), np.zeros(4)) == normalized_mutual_info_score(np.zeros(4), np.zeros(4)) == 1.0
    perm = np.array([3, 3, 1, 1, 2, 2])
    assert nmi(perm, np.array([0, 0, 1, 1, 2, 2])) == pytest.approx(1.0)


def test_nmi_matches_sklearn_on_kmeans_clustering():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, size=400)
    x = (rng.normal(size=(400, 8)) + 2.0 * rng.normal(size=(10, 8))[labels]).astype(np.float32)
    clusters = clustering.kmeans_labels(x, 10, seed=3)
    want = normalized_mutual_info_score(labels, clusters)
    assert nmi(clusters, labels) == pytest.approx(want, abs=1e-12)
    assert evaluate(x, labels, metrics=("nmi",), seed=3)["nmi"] == pytest.approx(want, abs=1e-12)


def count_calls(monkeypatch):
    calls = {"knn": [], "kmeans": []}
    knn, kmeans = neighbours.knn_search, clustering.kmeans_labels

    def counting_knn(*args, **kwargs):
        calls["knn"].append((args, kwargs))
        return knn(*args, **kwargs)

    def counting_kmeans(*args, **kwargs):
        calls["kmeans"].append((args, kwargs))
        return kmeans(*args, **kwargs)

    monkeypatch.setattr(neighbours, "knn_search", counting_knn)
    monkeypatch.setattr(clustering, "kmeans_labels", counting_kmeans)
    return calls


def blobs(seed: int, n: int = 300, n_classes: int = 12, d: int = 16):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    x = (rng.normal(size=(n, d)) + 1.5 * rng.normal(size=(n_classes, d))[labels]).astype(np.float32)
    return x, labels


def test_evaluate_keys_ranges_and_one_search_one_clustering(monkeypatch):
    calls = count_calls(monkeypatch)
    x, labels = blobs(0)
    out = evaluate(x, labels)
    assert list(out) == ["recall@1", "recall@2", "recall@4", "recall@8", "nmi", "map@r", "r_precision"]
    assert all(type(v) is float and 0.0 <= v <= 1.0 for v in out.values())
    assert out["recall@1"] <= out["recall@2"] <= out["recall@4"] <= out["recall@8"]
    assert len(calls["knn"]) == 1 and len(calls["kmeans"]) == 1
    # k = max(max K, R = largest class size - 1); clusters = number of classes.
    args, kwargs = calls["knn"][0]
    assert args[2] == max(8, np.bincount(labels).max() - 1)
    args, kwargs = calls["kmeans"][0]
    assert args[1] == np.unique(labels).size and kwargs["seed"] == 0


def test_evaluate_computes_only_what_the_chosen_metrics_need(monkeypatch):
    calls = count_calls(monkeypatch)
    x, labels = blobs(1)
    assert list(evaluate(x, labels, ks=(1, 5), metrics=("recall",))) == ["recall@1", "recall@5"]
    assert len(calls["knn"]) == 1 and calls["knn"][0][0][2] == 5 and not calls["kmeans"]
    assert list(evaluate(x, labels, metrics=("nmi",))) == ["nmi"]
    assert len(calls["knn"]) == 1 and len(calls["kmeans"]) == 1


def test_evaluate_is_reproducible_for_a_seed():
    x, labels = blobs(2, n=500, n_classes=25)
    assert evaluate(x, labels, seed=7) == evaluate(x, labels, seed=7)


def test_chunk_size_does_not_change_results():
    x, labels = blobs(3)
    assert evaluate(x, labels, chunk_size=17) == evaluate(x, labels)


def test_metric_objects_declare_needs():
    labels = np.array([0, 0, 0, 1, 1, 2])
    assert Recall((1, 4)).requires(labels) == {"knn": 4} and Recall((1, 4)).names == ("recall@1", "recall@4")
    assert MAPatR().requires(labels) == RPrecision().requires(labels) == {"knn": 2}
    assert NMI().requires(labels) == {"clustering": 3}


@pytest.mark.parametrize(
    "embeddings, labels, kwargs, message",
    [
        (np.zeros(10, np.float32), np.zeros(10), {}, "embeddings must be a non-empty 2-D"),
        (np.zeros((10, 2), np.int64), np.arange(10) % 2, {}, "floating point"),
        (np.full((10, 2), np.nan, np.float32), np.arange(10) % 2, {}, "NaN or inf"),
        (np.full((10, 2), np.inf), np.arange(10) % 2, {}, "NaN or inf"),
        (np.zeros((10, 2), np.float32), np.arange(9) % 2, {}, "labels must be 1-D"),
        (np.zeros((10, 2), np.float32), np.zeros((10, 1)), {}, "labels must be 1-D"),
        (np.zeros((10, 2), np.float32), np.zeros(10), {}, "at least 2 classes"),
        (np.zeros((10, 2), np.float32), np.arange(10), {}, "no class has two samples"),
        (np.zeros((10, 2), np.float32), np.arange(10) % 2, {"metrics": ("acc",)}, "unknown metric"),
        (np.zeros((10, 2), np.float32), np.arange(10) % 2, {"metrics": "nmi"}, "metrics must be"),
        (np.zeros((10, 2), np.float32), np.arange(10) % 2, {"ks": (0, 1)}, "ks must be"),
        (np.zeros((10, 2), np.float32), np.arange(10) % 2, {"ks": (1, 10)}, r"k=10 .*N=10"),
    ],
)
def test_evaluate_bad_input(embeddings, labels, kwargs, message):
    with pytest.raises(SmartMiningError, match=message):
        evaluate(embeddings, labels, **kwargs)

