"""smartmining.sampler.SmartBatchSampler: plan_epoch behind a DataLoader, warm-up, controller, state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from smartmining.controller import KappaController
from smartmining.errors import SmartMiningError
from smartmining.mining.random import valid_anchors
from smartmining.mining.smart import SmartMiner
from smartmining.sampler import SmartBatchSampler
from smartmining.training.batches import plan_epoch


def problem(n: int = 300, d: int = 8, classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.standard_normal((classes, d))[labels] + rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


class Embedder:
    def __init__(self, x: np.ndarray) -> None:
        self.x, self.calls = x, 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.x


def make(x, labels, **kw) -> tuple[SmartBatchSampler, Embedder]:
    embed = Embedder(x)
    opts = {"kappa": 1.5, "mined_fraction": 0.5, "batch_size": 32, "warmup_epochs": 2, "k": 50,
            "miner_options": {"recall_sample": 0}, "seed": 3}
    return SmartBatchSampler(labels, embed, **{**opts, **kw}), embed


def test_warm_up_is_random_then_each_epoch_is_re_mined_at_the_mined_fraction():
    x, labels = problem()
    sampler, embed = make(x, labels)
    for epoch in (1, 2):
        batches = list(sampler)
        assert embed.calls == 0 and len(sampler.last_plan.mined) == 0 and not sampler.stats["mined"]
        assert len(batches) == len(sampler) == 10 and sum(len(b) for b in batches) == 3 * len(valid_anchors(labels))
    for epoch in (3, 4):
        batches = list(sampler)
        assert embed.calls == epoch - 2 and sampler.stats["mined"] and sampler.stats["kappa"] == 1.5
        plan = sampler.last_plan
        assert len(plan.mined) == round(0.5 * len(valid_anchors(labels))) and sampler.stats["n_mined"] > 100
        mined = set(zip(plan.mined.anchors.tolist(), plan.mined.positives.tolist(), plan.mined.negatives.tolist()))
        for batch in plan.batches:  # every batch mixes mined and random triplets at the fraction
            share = np.mean([t in mined for t in zip(batch.anchors.tolist(), batch.positives.tolist(), batch.negatives.tolist())])
            assert abs(share - 0.5) <= 0.1
    real = ~plan.mined.is_random
    a, p, n = plan.mined.anchors[real], plan.mined.positives[real], plan.mined.negatives[real]
    d = lambda i, j: ((x[i] - x[j]) ** 2).sum(1)  # noqa: E731
    assert (d(a, n) < d(a, p)).all() and (labels[a] == labels[p]).all() and (labels[a] != labels[n]).all()


def test_the_sampler_is_plan_epoch():
    x, labels = problem(seed=1)
    sampler, _ = make(x, labels, warmup_epochs=0)
    got = sampler.plan()
    rng = np.random.default_rng(3)
    miner = SmartMiner(kappa=1.5, k=50, recall_sample=0)
    want = plan_epoch(labels, valid_anchors(labels), len(valid_anchors(labels)), 0.5, 32, rng,
                      mine=lambda anchors: miner.mine(x, labels, anchors, rng))
    assert len(got.batches) == len(want.batches)
    for g, w in zip(got.batches, want.batches):
        assert np.array_equal(g.anchors, w.anchors) and np.array_equal(g.positives, w.positives)
        assert np.array_equal(g.negatives, w.negatives)


def test_batches_feed_a_data_loader_as_anchor_positive_negative_thirds():
    x, labels = problem(seed=2)
    sampler, _ = make(x, labels, warmup_epochs=0)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(labels)), batch_sampler=sampler)
    batches = 0
    for xb, yb in loader:
        ea, ep, en = SmartBatchSampler.split(xb)
        ya, yp, yn = SmartBatchSampler.split(yb)
        assert len(ea) == len(ep) == len(en) and (ya == yp).all() and (ya != yn).all()
        batches += 1
    assert batches == len(sampler)


def test_controller_learns_only_from_mined_epochs():
    x, labels = problem(seed=3)
    controller = KappaController(kappa0=4.0, kappa_min=1.0, kappa_max=64.0)
    sampler, _ = make(x, labels, controller=controller, warmup_epochs=1)
    list(sampler)
    assert sampler.observe(0.9) == 4.0 and controller.history == []  # warm-up: kappa was not in play
    list(sampler)
    assert sampler.stats["kappa"] == 4.0
    kappa = sampler.observe(0.1)
    assert kappa == controller.kappa != 4.0 and controller.history[-1]["epoch"] == 2
    list(sampler)
    assert sampler.stats["kappa"] == kappa and sampler.miner.kappa == kappa


def test_state_dict_resumes_the_same_epochs():
    x, labels = problem(seed=4)
    a, _ = make(x, labels, controller=KappaController(kappa0=2.0), warmup_epochs=1)
    list(a)
    a.observe(0.3)
    list(a)
    a.observe(0.6)
    state = a.state_dict()
    b, _ = make(x, labels, controller=KappaController(kappa0=2.0), warmup_epochs=1, seed=99)
    b.load_state_dict(state)
    assert b.epoch == 2 and b.kappa == a.kappa
    assert list(a) == list(b)
    plain, _ = make(x, labels)
    with pytest.raises(SmartMiningError, match="controller"):
        plain.load_state_dict(state)


@pytest.mark.parametrize(
    "embedding, message",
    [
        (np.zeros((10, 4), dtype=np.float32), r"embed\(\) must have shape \(N, d\) with N = 300"),
        (np.full((300, 4), np.nan, dtype=np.float32), r"embed\(\) holds NaN or inf in 300 rows"),
    ],
)
def test_a_bad_embedding_is_named(embedding, message):
    _, labels = problem()
    sampler = SmartBatchSampler(labels, lambda: embedding, warmup_epochs=0)
    with pytest.raises(SmartMiningError, match=message):
        sampler.plan()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"mined_fraction": 1.5}, "mined_fraction"), ({"batch_size": 0}, "batch_size"),
     ({"controller": 3}, "KappaController"), ({"embed": None}, "embed must be a callable")],
)
def test_bad_arguments_are_refused(kwargs, message):
    x, labels = problem()
    args = {"embed": lambda: x, **kwargs}
    with pytest.raises(SmartMiningError, match=message):
        SmartBatchSampler(labels, **args)


def test_labels_without_a_valid_anchor_are_refused():
    with pytest.raises(SmartMiningError, match="no point can anchor"):
        SmartBatchSampler(np.arange(5), lambda: np.zeros((5, 2)))
