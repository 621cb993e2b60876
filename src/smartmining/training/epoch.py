"""One epoch as PAPER.md section 3 describes it, and its row of epochs.csv (built here and only here)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from smartmining.losses import training_error
from smartmining.training.steps import EpochContext

if TYPE_CHECKING:
    from smartmining.training.trainer import Trainer

EPOCH_COLUMNS = [
    "epoch", "loss", "loss_triplet", "loss_global", "train_error", "e_mined", "e_random", "kappa", "mined_fraction",
    "n_triplets", "n_steps", "image_passes", "n_embedded", "compute_passes", "n_mined", "random_fallbacks", "random_zero_loss", "lr",
    "t_embed", "t_index", "t_mine", "t_train", "t_eval", "t_epoch", "t_wall", "index", "index_recall",
]  # followed by the mining statistics, the validation metrics (val_*) and the test metrics


def _share_nonzero(losses: np.ndarray) -> float:
    return float(np.count_nonzero(losses > 0) / losses.size) if losses.size else math.nan


class EpochLog:
    """Accumulates one epoch's figures; ``row()`` is the epochs.csv row."""

    def __init__(self, epoch: int, lr: float, reembed_cost: float = 1.0) -> None:
        self.reembed_cost = reembed_cost  # a no-grad re-embedded image, in training passes (train.reembed_cost)
        self.values: dict[str, Any] = {c: math.nan for c in EPOCH_COLUMNS}
        self.values.update(epoch=epoch, lr=lr, n_triplets=0, n_steps=0, image_passes=0, n_embedded=0, random_fallbacks=0,
                           n_mined=0, index="", t_embed=0.0, t_index=0.0, t_mine=0.0, mined_fraction=0.0)
        self.sums = {"loss": 0.0, "loss_triplet": 0.0, "loss_global": 0.0}
        self.losses: list[np.ndarray] = []
        self.flags: list[np.ndarray] = []

    def mining(self, stats: dict[str, Any]) -> None:
        self.values.update({k: v for k, v in stats.items() if k != "n_embedded"})
        self.values["n_embedded"] += int(stats.get("n_embedded", 0))
        self.values["image_passes"] += int(stats.get("n_embedded", 0))

    def step(self, out: Any, is_random: torch.Tensor, n_images: int) -> None:
        k = len(out.per_triplet)
        self.values["n_triplets"] += k
        self.values["n_steps"] += 1
        self.values["image_passes"] += n_images
        self.sums["loss"] += float(out.total.detach()) * k
        self.sums["loss_triplet"] += out.triplet * k
        self.sums["loss_global"] += out.global_ * k
        self.losses.append(out.per_triplet.cpu().numpy())
        self.flags.append(is_random.cpu().numpy())

    def finish_training(self, seconds: float) -> float:
        """Close the training part; returns the training error e (share of non-zero J_t at training time)."""
        losses = np.concatenate(self.losses) if self.losses else np.zeros(0)
        flags = np.concatenate(self.flags) if self.flags else np.zeros(0, dtype=bool)
        n = max(self.values["n_triplets"], 1)
        self.values.update({key: total / n for key, total in self.sums.items()})
        self.values["t_train"] = seconds
        self.values["train_error"] = training_error(losses) if losses.size else math.nan
        self.values["e_mined"] = _share_nonzero(losses[~flags])
        self.values["e_random"] = _share_nonzero(losses[flags])
        return float(self.values["train_error"])

    def update(self, values: dict[str, Any]) -> None:
        self.values.update(values)

    def row(self) -> dict[str, Any]:
        """The row; compute_passes counts a re-embedded image at its measured cost, not as a training pass."""
        v = self.values
        return {**v, "compute_passes": v["image_passes"] - v["n_embedded"] + self.reembed_cost * v["n_embedded"]}


def controller_columns(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The controller's decision after this epoch (its last history entry), as log columns."""
    if not history:
        return {}
    h = history[-1]
    return {"kappa_next": h.get("kappa_next"), "controller_rule": h.get("rule"), "kappa_clamp": h.get("clamp") or "",
            "kappa_unreachable": bool(h.get("unreachable"))}


def run_epoch(trainer: Trainer, epoch: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """Re-embed -> index -> mine -> mix (the miner's steps), train, steer kappa, evaluate; the epoch's row."""
    t_start = time.perf_counter()
    s = trainer.settings.train
    log = EpochLog(epoch, trainer.optimizer.param_groups[0]["lr"], s.reembed_cost)
    ctx = EpochContext(epoch, trainer.data.train_labels, trainer.anchor_pool, trainer.n_triplets, s.batch_triplets,
                       trainer.rng, trainer.embed_train, trainer.device)
    plan = trainer.plan(ctx)  # the miner's steps (several processes: mined once, training/distributed.py)
    trainer.keep_samples(epoch, plan.mined)
    t0 = time.perf_counter()
    trainer.model.train()
    for b, step in enumerate(trainer.progress_bar(plan.steps, f"epoch {epoch}")):
        out, is_random = trainer.step(step, epoch, b)
        log.step(out, is_random, len(step.images))
    log.mining(plan.stats)  # after the steps: an online miner's figures accumulate while it mines
    error = log.finish_training(time.perf_counter() - t0)
    if trainer.kappa is not None and not math.isnan(log.values["kappa"]):  # kappa steered this epoch's mining
        e_mined, e_random = (log.values[k] for k in ("e_mined", "e_random"))
        trainer.kappa.observe(error, epoch, error_mined=None if math.isnan(e_mined) else e_mined,
                              error_random=None if math.isnan(e_random) else e_random)
        log.update(controller_columns(getattr(trainer.kappa, "history", [])))
    trainer.scheduler.step()
    metrics, test_emb = trainer.measure(epoch)
    log.update(metrics)
    log.update({"t_epoch": time.perf_counter() - t_start})
    return log.row(), test_emb
