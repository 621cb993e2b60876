"""smartmining.pml.SmartMiner against our offline oracle (smart_triplets) and inside PML's losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
from pytorch_metric_learning.losses import CrossBatchMemory, TripletMarginLoss
from pytorch_metric_learning.reducers import AvgNonZeroReducer

from smartmining.controller import KappaController
from smartmining.errors import SmartMiningError
from smartmining.mining.smart import smart_triplets
from smartmining.mining.smart_torch import self_copies, sorted_lists, squared_distances
from smartmining.pml import SmartMiner

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def clusters(n: int, d: int, classes: int, seed: int, noise: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    centres = torch.randn(classes, d, generator=g)
    return centres[labels] + noise * torch.randn(n, d, generator=g), labels


def lists_for(miner: SmartMiner, emb, labels, ref, ref_labels, same_set):
    """The sorted lists the miner mines from, rebuilt here with the module's own functions."""
    x = miner.distance.maybe_normalize(emb)
    y = x if same_set else miner.distance.maybe_normalize(ref)
    sq = squared_distances(x, y)
    tol = None if same_set else 1e-4 * (x.square().sum(1)[:, None] + y.square().sum(1)[None, :])
    exclude = self_copies(emb, ref, labels, ref_labels, sq, tol)
    return sorted_lists(sq, miner.k, exclude)


def oracle(labels, ref_labels, ids, sq, kappa, per_anchor, same_set):
    """smart_triplets on the same lists; one label space (the reference set, then the batch if apart)."""
    b, r = len(labels), len(ref_labels)
    space = ref_labels.numpy() if same_set else np.concatenate([ref_labels.numpy(), labels.numpy()])
    anchors = np.arange(b) if same_set else r + np.arange(b)
    trip, _ = smart_triplets(None, space, anchors, ids.numpy(), sq.numpy(), kappa, np.random.default_rng(0), per_anchor)
    in_list = np.array([p in row for p, row in zip(trip.positives, ids.numpy()[trip.anchors - (0 if same_set else r)])])
    keep = ~trip.is_random & in_list
    return set(zip((trip.anchors[keep] - (0 if same_set else r)).tolist(), trip.positives[keep].tolist(),
                   trip.negatives[keep].tolist()))


@pytest.mark.parametrize("same_set", [True, False])
@pytest.mark.parametrize("k", [None, 12])
@pytest.mark.parametrize("per_anchor", [1, 3])
@pytest.mark.parametrize("kappa", [1.0, 2.5])
def test_triplets_equal_the_offline_oracle_on_the_same_lists(same_set, k, per_anchor, kappa):
    emb, labels = clusters(48, 8, 6, seed=1)
    ref, ref_labels = (emb, labels) if same_set else clusters(80, 8, 6, seed=2)
    if not same_set:  # a memory bank that holds the batch, as CrossBatchMemory's does
        ref, ref_labels = torch.cat([ref, emb]), torch.cat([ref_labels, labels])
    miner = SmartMiner(kappa=kappa, k=k, triplets_per_anchor=per_anchor, seed=0)
    a, p, n = miner(emb, labels) if same_set else miner(emb, labels, ref, ref_labels)
    ids, sq = lists_for(miner, emb, labels, ref, ref_labels, same_set)
    own = torch.arange(48) + (0 if same_set else 80)
    assert not (ids == own[:, None]).any()  # each anchor's own entry is out of its list
    expected = oracle(labels, ref_labels, ids, sq, kappa, per_anchor, same_set)
    listed = torch.stack([(ids[ai] == pi).any() for ai, pi in zip(a, p)]) if len(a) else torch.zeros(0, dtype=torch.bool)
    mined = set(zip(a[listed].tolist(), p[listed].tolist(), n[listed].tolist()))
    assert mined == expected and len(expected) > 5
    if k is None:  # whole lists: no positive from outside, every triplet is the oracle's
        assert listed.all()
    else:  # outside positives: of the anchor's class, outside its list, never the anchor itself
        outside = ~listed
        assert miner.num_outside_positives == int(outside.sum()) > 0
        assert (ref_labels[p[outside]] == labels[a[outside]]).all()
        assert not (ref[p[outside]] == emb[a[outside]]).all(1).any()
    assert miner.num_triplets == len(a)
    assert miner.num_triplets + miner.num_fallbacks == len(emb) * per_anchor


@pytest.mark.parametrize("device", DEVICES)
def test_every_triplet_is_closer_negative_past_the_boundary(device):
    emb, labels = clusters(128, 16, 10, seed=3)
    emb, labels = emb.to(device), labels.to(device)
    distance = LpDistance(normalize_embeddings=True)
    miner = SmartMiner(kappa=1.5, distance=distance)
    a, p, n = miner(emb, labels)
    assert a.device.type == device and len(a) > 50
    d = distance(emb)  # what TripletMarginLoss computes
    assert (d[a, n] < d[a, p]).all()
    assert (labels[a] == labels[p]).all() and (labels[a] != labels[n]).all() and (a != p).all()
    d2 = d.square().masked_fill(torch.eye(len(emb), dtype=torch.bool, device=device), float("inf"))
    d2_p1 = d2.masked_fill(labels[:, None] != labels[None, :], float("inf")).min(1).values
    assert (d2[a, n] > 1.5 * d2_p1[a]).all()
    assert miner.mean_d2_p1 == pytest.approx(float(d2_p1.mean()), rel=1e-5)


def test_pml_triplet_loss_trained_with_the_miner_goes_down():
    torch.manual_seed(0)
    x, labels = clusters(400, 32, 8, seed=4, noise=1.5)
    model = torch.nn.Linear(32, 16)
    loss_fn = TripletMarginLoss(margin=0.1)
    miner = SmartMiner(kappa=1.2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)

    def all_triplets_loss() -> float:
        with torch.no_grad():
            return float(loss_fn(model(x), labels))  # every valid triplet, no miner

    before = all_triplets_loss()
    for step in range(60):
        idx = torch.randperm(len(x))[:100]
        emb = model(x[idx])
        loss = loss_fn(emb, labels[idx], miner(emb, labels[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all_triplets_loss() < 0.7 * before


def test_cross_batch_memory_indices_point_where_pml_expects():
    seen = []

    loss = TripletMarginLoss()
    compute = loss.compute_loss

    def spy(embeddings, labels, indices_tuple, ref_emb, ref_labels):  # what the loss is given
        seen.append((indices_tuple, ref_emb.detach().clone(), ref_labels.clone()))
        return compute(embeddings, labels, indices_tuple, ref_emb, ref_labels)

    loss.compute_loss = spy
    miner = SmartMiner(kappa=1.2)
    xbm = CrossBatchMemory(loss, embedding_size=8, memory_size=96, miner=miner)
    for step in range(5):  # fills the memory (96) and wraps around
        emb, labels = clusters(32, 8, 5, seed=10 + step)
        xbm(emb, labels)
        (a, p, n), mem, mem_labels = seen[-1]
        assert len(a) == miner.num_triplets > 0  # PML's self-comparison filter removed nothing
        assert a.max() < len(emb) and max(p.max(), n.max()) < len(mem) == min(96, 32 * (step + 1))
        assert (mem_labels[p] == labels[a]).all() and (mem_labels[n] != labels[a]).all()
        own_slot = xbm.curr_batch_idx[a]
        assert (p != own_slot).all() and torch.equal(mem[own_slot], emb[a])
        d = torch.cdist(torch.nn.functional.normalize(emb), torch.nn.functional.normalize(mem))
        assert (d[a, n] < d[a, p]).all()


def test_faiss_lists_give_the_torch_triplets():
    emb, labels = clusters(60, 8, 5, seed=5)
    ref, ref_labels = clusters(300, 8, 5, seed=6)
    ref, ref_labels = torch.cat([ref, emb]), torch.cat([ref_labels, labels])
    out = {}
    for index in ("torch", "faiss"):
        miner = SmartMiner(kappa=1.5, k=40, index=index, seed=0)
        a, p, n = miner(emb, labels, ref, ref_labels)
        out[index] = set(zip(a.tolist(), n.tolist()))
        assert miner.used_faiss == (index == "faiss")
    assert out["torch"] == out["faiss"] and len(out["torch"]) > 30


def test_controller_is_driven_by_the_losses_non_zero_share():
    controller = KappaController(kappa0=4.0, target_error=0.5, kappa_min=1.0, kappa_max=64.0)
    miner = SmartMiner(controller=controller)
    loss_fn = TripletMarginLoss(margin=0.05, reducer=AvgNonZeroReducer(collect_stats=True))
    emb, labels = clusters(64, 8, 4, seed=7)
    assert miner.kappa == 4.0
    loss_fn(emb, labels, miner(emb, labels))
    miner.record_loss(loss_fn)
    nonzero, total = loss_fn.reducer.num_past_filter, miner.num_triplets
    assert 0 < total and miner._total == total and miner._nonzero == nonzero
    kappa = miner.end_epoch()
    assert kappa == controller.kappa != 4.0 and controller.history[-1]["error"] == pytest.approx(nonzero / total)
    with pytest.raises(SmartMiningError, match="through the controller"):
        miner.kappa = 2.0
    clone = SmartMiner(controller=KappaController(kappa0=4.0))
    clone.load_state_dict(miner.state_dict())
    assert clone.kappa == miner.kappa and clone.controller.history == controller.history


def test_update_every_n_steps_and_plain_counts():
    controller = KappaController(kappa0=8.0)
    miner = SmartMiner(controller=controller, update_every=2)
    miner.record(9, 10)
    assert controller.history == []
    miner.record(7, 10)
    assert controller.history[-1]["error"] == pytest.approx(0.8) and miner.kappa != 8.0
    with pytest.raises(SmartMiningError, match="nonzero <= total"):
        miner.record(11, 10)


def test_record_loss_needs_a_counting_reducer():
    miner = SmartMiner()
    with pytest.raises(SmartMiningError, match="AvgNonZeroReducer\\(collect_stats=True\\)"):
        miner.record_loss(TripletMarginLoss())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"distance": CosineSimilarity()}, "similarity.*squared Euclidean"),
        ({"kappa": -1.0}, "kappa must be"),
        ({"k": 0}, "k must be a positive integer"),
        ({"triplets_per_anchor": 0}, "triplets_per_anchor"),
        ({"index": "hnsw"}, "index must be one of"),
        ({"index": "faiss"}, "needs an integer k"),
        ({"controller": object()}, "KappaController"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(SmartMiningError, match=message):
        SmartMiner(**kwargs)


def test_nan_embeddings_are_refused():
    emb, labels = clusters(16, 4, 2, seed=8)
    emb[3, 1] = float("nan")
    with pytest.raises(SmartMiningError, match="NaN"):
        SmartMiner()(emb, labels)


@pytest.mark.parametrize("per_anchor", [1, 3])
def test_whole_lists_without_sorting_equal_the_sorted_path_even_with_ties(per_anchor):
    from smartmining.mining.smart_torch import smart_from_lists, smart_whole

    emb, labels = clusters(30, 4, 3, seed=9)
    emb = torch.cat([emb, emb[:10]])  # exact duplicates: tied distances, of both classes' members
    labels = torch.cat([labels, (labels[:10] + torch.arange(10) % 2) % 3])
    sq = squared_distances(emb, emb)
    exclude = torch.eye(len(emb), dtype=torch.bool)
    ids, sorted_sq = sorted_lists(sq, None, exclude)
    for kappa in (0.5, 1.0, 1.7):
        want, want_stats = smart_from_lists(labels, labels, ids, sorted_sq, kappa, per_anchor, exclude)
        got, got_stats = smart_whole(labels, labels, sq, kappa, per_anchor, exclude)
        assert all(torch.equal(g, w) for g, w in zip(got, want)) and len(got[0]) > 5
        assert got_stats == pytest.approx(want_stats, nan_ok=True)
