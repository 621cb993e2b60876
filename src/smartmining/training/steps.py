"""An epoch as a list of optimiser steps, for either kind of miner, at the same budget.

Every method of a comparison gets the same number of triplets per epoch, in batches of the same size, so
the same number of steps (PAPER.md section 10). A step forwards a set of distinct images once and picks
its triplets (batch-local positions) from their embeddings:

- offline miners (random, hard, smart): the triplets are fixed before the epoch (re-embed -> index ->
  mine -> mix, ``plan_epoch``); a step forwards the images its triplets use;
- online miners (semi-hard): a step forwards a P x K class-balanced batch and keeps ``batch_triplets``
  of its anchor-positive pairs (seeded sub-sample) with their mined negatives.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from smartmining.mining.base import OfflineMiner, OnlineMiner, Triplets
from smartmining.mining.factory import KappaSource
from smartmining.mining.semihard import pk_batches
from smartmining.training.batches import plan_epoch

Selection = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # a, p, n, is_random (batch-local)
SAMPLES_PER_EPOCH = 8  # mined triplets kept per epoch for the galleries of Figs. 5-6/10


@dataclass
class EpochContext:
    epoch: int
    labels: np.ndarray  # training labels
    anchor_pool: np.ndarray  # training points that can anchor a triplet
    n_triplets: int
    batch_size: int
    rng: np.random.Generator
    embed_train: Callable[[], np.ndarray]  # re-embeds the whole training set (eval mode)
    device: torch.device


def _itself(embeddings: torch.Tensor) -> torch.Tensor:
    return embeddings


@dataclass
class Step:
    images: np.ndarray  # distinct training indices forwarded by this step
    select: Callable[[torch.Tensor], Selection]
    # what p and n index, given the batch's embeddings (the batch itself; smart-xbm: batch then memory)
    reference: Callable[[torch.Tensor], torch.Tensor] = _itself
    triplets: Triplets | None = None  # an offline step's (a, p, n) dataset indices (sent to the other ranks)


@dataclass
class EpochSteps:
    steps: list[Step]
    stats: dict[str, Any] = field(default_factory=dict)  # mining columns of the epoch's log row
    mined: Triplets = field(default_factory=Triplets.empty)


def fixed_step(trip: Triplets, device: torch.device) -> Step:
    """The step of a batch of triplets fixed before the epoch (an offline miner's)."""
    uniq, inv = np.unique(np.concatenate([trip.anchors, trip.positives, trip.negatives]), return_inverse=True)
    inv_t = torch.as_tensor(inv, device=device).view(3, -1)
    flags = torch.as_tensor(trip.is_random, device=device)
    return Step(uniq, lambda emb: (inv_t[0], inv_t[1], inv_t[2], flags), triplets=trip)


def offline_steps(ctx: EpochContext, miner: OfflineMiner, kappa: KappaSource | None,
                  mined_fraction: float, warmup_epochs: int) -> EpochSteps:
    """The paper's epoch: re-embed, index, mine a share of the anchors, fill with random triplets, mix."""
    stats: dict[str, Any] = {"t_embed": 0.0, "t_index": 0.0, "t_mine": 0.0, "n_embedded": 0, "random_fallbacks": 0,
                             "kappa": math.nan, "mined_fraction": 0.0, "index": ""}
    mining = ctx.epoch > warmup_epochs
    fraction = (mined_fraction if miner.needs_embedding else 1.0) if mining else 0.0

    def mine(anchors: np.ndarray) -> Triplets:
        emb = None
        if miner.needs_embedding:
            t0 = time.perf_counter()
            emb = ctx.embed_train()
            stats["t_embed"], stats["n_embedded"] = time.perf_counter() - t0, len(emb)
        if kappa is not None:
            miner.kappa = kappa.kappa
            # an adaptive kappa is clamped to the range the data admits this epoch (mining/kappa_scale.py)
            miner.on_scale = (lambda s: kappa.set_range(s.kappa_lo, s.kappa_hi)) if hasattr(kappa, "set_range") else None
        t0 = time.perf_counter()
        triplets = miner.mine(emb, ctx.labels, anchors, ctx.rng)
        if kappa is not None:
            stats["kappa"] = miner.kappa
        total = time.perf_counter() - t0
        found = miner.stats
        stats["t_index"] = float(found.get("t_index", 0.0))
        stats["t_mine"] = total - stats["t_index"]
        stats.update({k: v for k, v in found.items() if k not in ("t_index", "t_select", "n_triplets", "kappa")})
        return triplets

    plan = plan_epoch(ctx.labels, ctx.anchor_pool, ctx.n_triplets, fraction, ctx.batch_size, ctx.rng,
                      mine if mining else None)
    stats.update(mined_fraction=fraction, n_mined=len(plan.mined))
    return EpochSteps([fixed_step(b, ctx.device) for b in plan.batches], stats, plan.mined)


def online_steps(ctx: EpochContext, miner: OnlineMiner, classes: int, per_class: int) -> EpochSteps:
    """P x K batches, as many as the offline methods take steps; each keeps ``batch_size`` of its triplets."""
    n_steps = max(1, math.ceil(ctx.n_triplets / ctx.batch_size))
    batches: list[np.ndarray] = []
    while len(batches) < n_steps:  # successive passes over the classes
        batches += pk_batches(ctx.labels, classes, per_class, ctx.rng)
    labels = torch.as_tensor(ctx.labels, device=ctx.device)
    stats: dict[str, Any] = {"mined_fraction": 1.0, "kappa": getattr(miner, "kappa", math.nan), "n_mined": ctx.n_triplets,
                             "index": "", "random_fallbacks": 0}
    steps = []
    for idx, size in zip(batches[:n_steps], _split_budget(ctx.n_triplets, n_steps)):
        keep_seed = int(ctx.rng.integers(2**62))
        select = _online_selection(miner, labels[torch.as_tensor(idx, device=ctx.device)], size, keep_seed, stats)
        steps.append(Step(idx, select, miner.reference))
    return EpochSteps(steps, stats)


def _split_budget(total: int, parts: int) -> list[int]:
    cuts = np.linspace(0, total, parts + 1).round().astype(int)
    return list(np.diff(cuts))


def _online_selection(miner: OnlineMiner, labels: torch.Tensor, size: int, seed: int,
                      totals: dict[str, Any]) -> Callable[[torch.Tensor], Selection]:
    def select(emb: torch.Tensor) -> Selection:
        a, p, n = miner.mine(emb, labels)
        _accumulate(totals, miner.stats)
        keep = np.random.default_rng(seed).permutation(len(a))[:size]  # the seeded sub-sample of the pairs
        keep_t = torch.as_tensor(np.sort(keep), device=emb.device)
        a, p, n = a[keep_t], p[keep_t], n[keep_t]
        return a, p, n, torch.zeros(len(a), dtype=torch.bool, device=emb.device)

    return select


def _accumulate(totals: dict[str, Any], stats: dict[str, float]) -> None:
    """The epoch's sums of an online miner's counts, and its shares averaged over the steps."""
    totals["online_steps"] = totals.get("online_steps", 0) + 1
    w = 1.0 / totals["online_steps"]
    for key, value in stats.items():
        if key.startswith(("frac_", "mean_")):
            totals[key] = (1 - w) * totals.get(key, 0.0) + w * value
        elif key in ("random_fallbacks",):
            totals[key] = totals.get(key, 0) + int(value)


def epoch_steps(ctx: EpochContext, miner: OfflineMiner | OnlineMiner, kappa: KappaSource | None,
                mined_fraction: float, warmup_epochs: int, pk: tuple[int, int]) -> EpochSteps:
    if isinstance(miner, OnlineMiner):
        return online_steps(ctx, miner, *pk)
    return offline_steps(ctx, miner, kappa, mined_fraction, warmup_epochs)
