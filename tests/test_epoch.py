"""The epoch's pieces on their own: batch mixing, the epoch plan, the equal-budget steps, one trainer epoch."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from smartmining.mining.base import Triplets
from smartmining.mining.factory import FixedKappa
from smartmining.mining.random import RandomMiner, random_triplets, valid_anchors
from smartmining.mining.semihard import SemiHardMiner
from smartmining.mining.smart import SmartMiner
from smartmining.training.batches import mixed_batches, plan_epoch
from smartmining.training.steps import EpochContext, epoch_steps

LABELS = np.repeat(np.arange(8), 6)  # 8 classes x 6 images


def triplets(n: int, random: bool) -> Triplets:
    a = np.arange(n)
    return Triplets(a, a, a, np.full(n, random))


def test_mixed_batches_give_every_batch_the_same_share_of_mined_triplets() -> None:
    batches = mixed_batches(triplets(30, False), triplets(70, True), 10, np.random.default_rng(0))
    assert [len(b) for b in batches] == [10] * 10
    assert all((~b.is_random).sum() == 3 for b in batches)
    every = np.concatenate([b.anchors[~b.is_random] for b in batches])
    assert sorted(every.tolist()) == list(range(30))  # each mined triplet exactly once


def test_plan_epoch_mines_its_share_of_the_drawn_anchors_and_fills_with_random_ones() -> None:
    pool = valid_anchors(LABELS)
    seen: list[np.ndarray] = []

    def mine(anchors: np.ndarray) -> Triplets:
        seen.append(anchors)
        out = random_triplets(LABELS, anchors, np.random.default_rng(1))
        return Triplets(out.anchors, out.positives, out.negatives, np.zeros(len(anchors), bool))

    plan = plan_epoch(LABELS, pool, 40, 0.25, 8, np.random.default_rng(0), mine)
    assert len(seen) == 1 and len(seen[0]) == 10 and len(plan.mined) == 10
    assert [len(b) for b in plan.batches] == [8] * 5
    assert sum(int((~b.is_random).sum()) for b in plan.batches) == 10
    warm = plan_epoch(LABELS, pool, 40, 0.25, 8, np.random.default_rng(0), None)  # warm-up: random only
    assert len(warm.mined) == 0 and all(b.is_random.all() for b in warm.batches)


def context(epoch: int, n: int = 48, batch: int = 16) -> EpochContext:
    emb = np.random.default_rng(3).normal(size=(len(LABELS), 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return EpochContext(epoch, LABELS, valid_anchors(LABELS), n, batch, np.random.default_rng(epoch), lambda: emb,
                        torch.device("cpu"))


@pytest.mark.parametrize("miner", [RandomMiner(), SmartMiner(kappa=1.0, k=20), SemiHardMiner(margin=0.2)],
                         ids=["random", "smart", "semihard"])
def test_every_kind_of_miner_takes_the_same_steps_and_triplets_per_epoch(miner) -> None:
    kappa = FixedKappa(1.0) if isinstance(miner, SmartMiner) else None
    plan = epoch_steps(context(2), miner, kappa, 0.5, 1, (4, 3))
    assert len(plan.steps) == 3  # 48 triplets in batches of 16
    emb = torch.nn.functional.normalize(torch.randn(len(LABELS), 8), dim=1)
    sizes = []
    for step in plan.steps:
        a, p, n, is_random = step.select(emb[torch.as_tensor(step.images)])
        sizes.append(len(a))
        labels = torch.as_tensor(LABELS[step.images])
        assert (labels[a] == labels[p]).all() and (labels[a] != labels[n]).all() and len(is_random) == len(a)
    assert sum(sizes) == 48 and sizes == [16, 16, 16]


def test_the_warm_up_epoch_mines_nothing_and_skips_the_re_embedding() -> None:
    calls = []
    ctx = context(1)
    ctx.embed_train = lambda: calls.append(1) or np.zeros((len(LABELS), 8), np.float32)
    plan = epoch_steps(ctx, SmartMiner(kappa=1.0, k=20), FixedKappa(1.0), 0.5, 1, (4, 3))
    assert calls == [] and plan.stats["mined_fraction"] == 0.0 and math.isnan(plan.stats["kappa"])


class StubNet(torch.nn.Module):
    """A linear map of the flattened image to 8-d, L2-normalised: the trainer's loop without a ConvNet."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = torch.nn.Flatten()
        self.head = torch.nn.Linear(1 * 8 * 8, 8)
        self.embedding_dim = 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.head(self.backbone(x)), dim=1)

    def param_groups(self, base_lr: float, head_lr_mult: float = 1.0, weight_decay: float = 0.0) -> list[dict]:
        return [{"params": list(self.parameters()), "lr": base_lr}]


def test_one_trainer_epoch_with_a_stub_network_logs_one_complete_row(
    smoke_profile: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import SMOKE_SELECTION
    from smartmining.data.images import LoadedSplit
    from smartmining.runs import resolve
    from smartmining.settings import Settings
    from smartmining.training import trainer as trainer_module
    from smartmining.training.data import RunData
    from smartmining.training.epoch import EPOCH_COLUMNS, run_epoch

    rng = np.random.default_rng(0)
    def split(labels: np.ndarray) -> LoadedSplit:
        return LoadedSplit(torch.as_tensor(rng.integers(0, 255, (len(labels), 1, 8, 8), dtype=np.uint8)), labels,
                           [f"{i}.png" for i in range(len(labels))], [])
    data = RunData({"train": split(LABELS), "val": split(np.repeat(np.arange(3), 4)), "test": split(np.repeat(np.arange(4), 4))},
                   lambda x: x.float() / 255, lambda x: x.float() / 255)
    monkeypatch.setattr(trainer_module, "build_network", lambda settings, *args, **kwargs: StubNet())
    run = resolve(smoke_profile, "glyphs", "smart+global+adaptive", SMOKE_SELECTION)
    settings = Settings.of(run.profile)
    tr = trainer_module.Trainer(run.method, settings, run.key, 0, data, tmp_path, progress=False)
    row, test_emb = run_epoch(tr, settings.train.warmup_epochs + 1)
    assert set(EPOCH_COLUMNS) <= set(row)
    assert row["n_triplets"] == len(valid_anchors(LABELS)) and row["mined_fraction"] == 0.5
    assert row["n_steps"] == math.ceil(row["n_triplets"] / settings.train.batch_triplets)
    assert row["image_passes"] >= len(LABELS)  # the re-embedding counts
    # ... in compute passes at its measured cost, not as a training pass
    assert row["n_embedded"] == len(LABELS)
    assert row["compute_passes"] == pytest.approx(row["image_passes"] - (1 - settings.train.reembed_cost) * len(LABELS))
    assert 0 <= row["train_error"] <= 1 and not math.isnan(row["kappa"]) and "val_recall@1" in row
    assert len(tr.kappa.history) == 1  # the controller saw the epoch's training error
