"""Offline smart mining for a plain PyTorch loop: ``from smartmining.sampler import SmartBatchSampler``.

    sampler = SmartBatchSampler(labels, embed=embed_training_set, kappa=4.0, batch_size=64)
    loader = DataLoader(dataset, batch_sampler=sampler)
    for epoch in range(epochs):
        for x, y in loader:                      # 3B images: B anchors, B positives, B negatives
            a, p, n = SmartBatchSampler.split(model(x))
            ...
        sampler.observe(training_error)          # only needed with a controller

The epoch of PAPER.md section 3: at the start of each epoch (each ``iter``), after ``warmup_epochs``
epochs of random triplets, ``embed()`` re-embeds the whole training set, smart mining (FAISS lists,
Algorithm 1; smartmining.mining.smart.SmartMiner) gives triplets for a ``mined_fraction`` share of the
epoch's anchors, random triplets fill the rest, and every batch mixes the two at that share. The plan is
smartmining.training.batches.plan_epoch, as in our trainer: one implementation. Each batch is a list of
dataset indices, anchors then positives then negatives. ``state_dict`` holds the epoch, the random state
and the controller's state, for checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from smartmining.controller import KappaController
from smartmining.errors import SmartMiningError
from smartmining.mining.base import Triplets
from smartmining.mining.random import valid_anchors
from smartmining.mining.smart import SmartMiner
from smartmining.training.batches import EpochPlan, plan_epoch


def check_embeddings(embeddings: Any, n: int, what: str) -> np.ndarray:
    """``embeddings`` as a finite float32 (n, d) array, or a SmartMiningError naming ``what``."""
    if isinstance(embeddings, torch.Tensor):
        embeddings = embeddings.detach().float().cpu().numpy()
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] != n:
        raise SmartMiningError(f"{what} must have shape (N, d) with N = {n} (the number of labels), got {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise SmartMiningError(f"{what} must hold numbers, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(1))
        raise SmartMiningError(f"{what} holds NaN or inf in {len(bad)} rows (first: {bad[:5].tolist()})")
    return np.ascontiguousarray(x, dtype=np.float32)


class SmartBatchSampler(Sampler[list[int]]):
    """Batches of (a, p, n) dataset indices, re-mined from a fresh embedding at the start of each epoch.

    labels: the training set's integer labels. embed: () -> (N, d) embeddings of the whole training set
    (numpy or torch), called once per mined epoch. kappa, or controller (a KappaController; fed by
    ``observe``). mined_fraction: share of each epoch's triplets that are mined. batch_size: triplets
    per batch. triplets_per_epoch: default one per valid anchor. warmup_epochs: random-only epochs
    first. k, index, miner_options: of smartmining.mining.smart.SmartMiner. seed: of every draw.
    """

    def __init__(self, labels: Any, embed: Callable[[], Any], *, kappa: float = 4.0,
                 controller: KappaController | None = None, mined_fraction: float = 0.5, batch_size: int = 64,
                 triplets_per_epoch: int | None = None, warmup_epochs: int = 2, k: int = 200, index: str = "flat",
                 miner_options: dict[str, Any] | None = None, seed: int = 0) -> None:
        labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise SmartMiningError(f"labels must be a 1-D integer array, got dtype {labels.dtype} shape {labels.shape}")
        self.labels = labels.astype(np.int64)
        self.anchor_pool = valid_anchors(self.labels)
        if self.anchor_pool.size == 0:
            raise SmartMiningError("labels: no point can anchor a triplet (need a class with 2 members and 2 classes)")
        if not callable(embed):
            raise SmartMiningError(f"embed must be a callable returning the (N, d) embeddings, got {type(embed).__name__}")
        if not 0.0 <= mined_fraction <= 1.0:
            raise SmartMiningError(f"mined_fraction must lie in [0, 1], got {mined_fraction!r}")
        if controller is not None and not isinstance(controller, KappaController):
            raise SmartMiningError(f"controller must be a KappaController, got {type(controller).__name__}")
        for name, value, least in [("batch_size", batch_size, 1), ("warmup_epochs", warmup_epochs, 0),
                                   ("triplets_per_epoch", triplets_per_epoch, 1)]:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise SmartMiningError(f"{name} must be an integer >= {least}, got {value!r}")
        self.embed, self.controller = embed, controller
        self.mined_fraction, self.batch_size, self.warmup_epochs = float(mined_fraction), batch_size, warmup_epochs
        self.triplets_per_epoch = triplets_per_epoch or len(self.anchor_pool)
        self._kappa = float(kappa)
        self.miner = SmartMiner(kappa=self.kappa, k=k, index=index, **(miner_options or {}))
        self.rng = np.random.default_rng(seed)
        self.epoch = 0  # epochs planned so far; the next iter plans epoch + 1
        self.mined_last = False
        self.stats: dict[str, Any] = {}
        self.last_plan: EpochPlan | None = None

    @property
    def kappa(self) -> float:
        """The kappa of the next mined epoch (the controller's, where there is one)."""
        return float(self.controller.kappa) if self.controller is not None else self._kappa

    def __len__(self) -> int:
        return math.ceil(self.triplets_per_epoch / self.batch_size)

    def _mine(self, anchors: np.ndarray) -> Triplets:
        embeddings = check_embeddings(self.embed(), len(self.labels), "embed()")
        self.miner.kappa = self.kappa
        triplets = self.miner.mine(embeddings, self.labels, anchors, self.rng)
        self.stats.update(self.miner.stats)
        return triplets

    def plan(self) -> EpochPlan:
        """Plan the next epoch (mining it after the warm-up); ``iter`` calls this."""
        epoch = self.epoch + 1
        mining = epoch > self.warmup_epochs and self.mined_fraction > 0
        self.stats = {"epoch": epoch, "mined": mining, "kappa": self.kappa if mining else math.nan}
        plan = plan_epoch(self.labels, self.anchor_pool, self.triplets_per_epoch, self.mined_fraction,
                          self.batch_size, self.rng, mine=self._mine if mining else None)
        self.stats["n_mined"] = int((~plan.mined.is_random).sum())
        self.epoch, self.mined_last, self.last_plan = epoch, mining, plan
        return plan

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.plan().batches:
            yield np.concatenate([batch.anchors, batch.positives, batch.negatives]).tolist()

    @staticmethod
    def split(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch's embeddings (3B, ...) as (anchors, positives, negatives), B each."""
        if len(batch) % 3:
            raise SmartMiningError(f"a SmartBatchSampler batch holds 3B items, got {len(batch)}")
        a, p, n = batch.chunk(3)
        return a, p, n

    def observe(self, error: float) -> float:
        """The training error (share of triplets with non-zero loss) of the epoch just trained; the
        controller learns from it if that epoch was mined. Returns the kappa of the next mined epoch."""
        if self.controller is not None and self.mined_last:
            self.controller.observe(error, epoch=self.epoch)
        return self.kappa

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "mined_last": self.mined_last, "kappa": self._kappa,
                "rng": self.rng.bit_generator.state,
                "controller": self.controller.state_dict() if self.controller is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state.get("controller") is None) != (self.controller is None):
            raise SmartMiningError("SmartBatchSampler state: the saved sampler and this one differ in having a controller")
        if self.controller is not None:
            self.controller.load_state_dict(state["controller"])
        self.epoch, self.mined_last, self._kappa = int(state["epoch"]), bool(state["mined_last"]), float(state["kappa"])
        self.rng.bit_generator.state = state["rng"]
