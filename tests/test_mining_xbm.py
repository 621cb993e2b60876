"""smart-xbm's miner: Algorithm 1 over the batch and a memory, the budget kept, the memory first-in first-out."""

from __future__ import annotations

import torch

from smartmining.mining.smart_torch import smart_whole, squared_distances
from smartmining.mining.xbm import XbmMiner


def batch(seed: int, n: int = 16, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, 8, generator=g), dim=1), torch.arange(n) % classes


def test_triplets_are_valid_and_fill_the_budget_from_the_batch_and_the_memory() -> None:
    miner = XbmMiner(kappa=1.0, memory_size=40, per_anchor=2)
    for seed in range(4):
        emb, labels = batch(seed)
        a, p, n = miner.mine(emb, labels)
        ref = miner.reference(emb)
        assert len(a) == 2 * len(emb)  # every anchor gets its share: mined, else random
        assert (torch.bincount(a, minlength=len(emb)) == 2).all()
        assert int(p.max()) < len(ref) and int(n.max()) < len(ref)
        assert not ((p == a) & (p < len(emb))).any()  # an anchor is never its own positive
    assert len(miner.memory) == 40 and torch.equal(miner.memory[-16:], emb)  # the newest batch is last


def test_mined_triplets_are_those_of_algorithm_1_on_batch_plus_memory() -> None:
    miner = XbmMiner(kappa=1.0, memory_size=64)
    emb0, labels0 = batch(0)
    miner.mine(emb0, labels0)  # fills the memory with the first batch
    emb, labels = batch(1)
    a, p, n = miner.mine(emb, labels)
    ref, ref_labels = torch.cat([emb, emb0]), torch.cat([labels, labels0])
    exclude = torch.zeros(16, 32, dtype=torch.bool)
    exclude[:, :16] = torch.eye(16, dtype=torch.bool)
    (ea, ep, en), _ = smart_whole(labels, ref_labels, squared_distances(emb, ref), 1.0, 1, exclude)
    mined = {(int(x), int(y), int(z)) for x, y, z in zip(ea, ep, en)}
    assert mined <= {(int(x), int(y), int(z)) for x, y, z in zip(a, p, n)}
    assert torch.equal(miner.reference(emb)[16:], emb0)  # positives/negatives past the batch index the memory
    for x, y, z in zip(a, p, n):
        assert ref_labels[y] == labels[x] and ref_labels[z] != labels[x]


def test_the_memory_survives_a_checkpoint_round_trip() -> None:
    miner = XbmMiner(kappa=1.0, memory_size=20)
    miner.mine(*batch(0))
    other = XbmMiner(kappa=1.0, memory_size=20)
    other.load_state_dict(miner.state_dict())
    emb, labels = batch(2)
    assert all(torch.equal(x, y) for x, y in zip(miner.mine(emb, labels), other.mine(emb, labels)))
