"""One run: the network, its optimiser, the method's miner and kappa source, the per-epoch log, checkpoints.

The trainer receives a resolved run (``runs.resolve``): the method, the typed settings and the run's key
(the parameters it depends on). It never sees a run name and never branches on a method's name.
"""

from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from smartmining import atomic
from smartmining.errors import SmartMiningError
from smartmining.evaluation.metrics import evaluate
from smartmining.fingerprint import training_code
from smartmining.losses import TripletObjective
from smartmining.methods import MethodSpec
from smartmining.mining.base import Triplets
from smartmining.mining.factory import build_kappa, build_miner
from smartmining.mining.random import random_triplets, valid_anchors
from smartmining.models.embedding import EmbeddingNet, build_model, embed
from smartmining.provenance import now_iso, provenance
from smartmining.settings import Settings
from smartmining.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, restore_rng_states, rng_states, save_checkpoint
from smartmining.training.data import RunData, resolve_device
from smartmining.training.epoch import EPOCH_COLUMNS, run_epoch
from smartmining.training.placement import describe
from smartmining.training.resume import check_resumable, same_run
from smartmining.training.steps import SAMPLES_PER_EPOCH, EpochContext, EpochSteps, Step, epoch_steps

log = logging.getLogger(__name__)
METRIC_PREFIXES = ("recall@", "nmi", "map@r", "r_precision")


class NonFiniteError(SmartMiningError):
    pass


def check_finite(value: torch.Tensor, what: str, epoch: int, batch: int) -> None:
    if not torch.isfinite(value).all():
        raise NonFiniteError(
            f"non-finite {what} at epoch {epoch}, batch {batch}; the run stops here and keeps the "
            f"checkpoint of epoch {epoch - 1}. Lower train.lr or check the data."
        )


def build_network(settings: Settings, init_from: Path | None = None, takes_features: bool = False) -> EmbeddingNet:
    """The profile's network; with ``init_from``, the backbone of the pretrain stage (the head stays new);
    with ``takes_features``, its inputs are the features stage's frozen-trunk outputs (model.cache_frozen)."""
    m = settings.model
    extra: dict[str, Any] = {}
    if m.backbone == "convnet":
        extra = {"widths": list(m.widths), "in_channels": settings.in_channels}
    elif m.backbone == "mobilenet_v2":
        extra = {"frozen_blocks": m.frozen_blocks}
    model = build_model(m.backbone, embedding_dim=m.embedding_dim, pretrained=m.pretrained, **extra)
    if takes_features:
        model.backbone.takes_trunk_output = True
    if m.init == "pretrain":
        if init_from is None:
            raise SmartMiningError("model.init = 'pretrain' needs the pretrain stage's backbone (--init-from PATH)")
        state = load_checkpoint(Path(init_from))
        if state is None:
            raise SmartMiningError(f"{init_from}: no such file (expected the pretrain stage's backbone.pt)")
        model.backbone.load_state_dict(state["backbone"])
    return model


def build_optimizer(model: EmbeddingNet, settings: Settings) -> tuple[torch.optim.Optimizer, Any]:
    t = settings.train
    groups = model.param_groups(base_lr=t.lr, head_lr_mult=t.head_lr_mult, weight_decay=t.weight_decay)
    opt: torch.optim.Optimizer = (torch.optim.SGD(groups, lr=t.lr, momentum=t.momentum) if t.optimizer == "sgd"
                                  else torch.optim.Adam(groups, lr=t.lr))
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=t.lr_step_epochs, gamma=t.lr_gamma)


def evaluate_network(model: EmbeddingNet, data: RunData, split: str, settings: Settings,
                     device: torch.device) -> tuple[dict[str, float], np.ndarray]:
    """Metrics and embeddings of one split (evaluation transform, eval mode)."""
    emb = embed(model, data.split(split).images, data.test_transform, device=device)
    ev = settings.evaluation
    return evaluate(emb, data.split(split).labels, ks=ev.ks, seed=ev.seed), emb


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


class Trainer:
    def __init__(self, method: MethodSpec, settings: Settings, key: dict[str, Any], seed: int, data: RunData, out: Path,
                 *, progress: bool = True, restart_if_changed: bool = False, init_from: Path | None = None) -> None:
        self.spec, self.settings, self.key, self.seed, self.data, self.out = method, settings, key, seed, data, Path(out)
        self.progress_on, self.restart_if_changed = progress, restart_if_changed
        t = settings.train
        torch.set_num_threads(t.threads)
        self.device = resolve_device(t.device)
        self.rng = seed_everything(seed)
        self.model = build_network(settings, init_from, "cached_features" in data.notes).to(self.device)
        self.optimizer, self.scheduler = build_optimizer(self.model, settings)
        loss = settings.loss
        self.objective = TripletObjective(triplet=loss.triplet, margin=loss.margin, use_global=method.use_global,
                                          global_t=loss.global_t, global_lambda=loss.global_lambda)
        self.miner = build_miner(method, settings, seed)
        self.kappa = build_kappa(method, settings)
        labels = data.train_labels
        self.anchor_pool = valid_anchors(labels)
        self.n_triplets = t.triplets_per_epoch or len(self.anchor_pool)
        probe_rng = np.random.default_rng([seed, 0x9E0B])  # a fixed probe per seed, the same for every method
        pool = probe_rng.choice(self.anchor_pool, size=min(settings.evaluation.probe_triplets, len(self.anchor_pool)), replace=False)
        self.probe = random_triplets(labels, pool, probe_rng)
        self.rows: list[dict[str, Any]] = []
        self.samples: list[dict[str, Any]] = []
        self.epoch = 0
        if t.batch_triplets > len(labels):
            raise SmartMiningError(f"train.batch_triplets = {t.batch_triplets} exceeds the {len(labels)} training images; "
                                   f"set it to at most {len(labels)}")
        self.miner.check_data(len(labels))

    # -- pieces the epoch calls ----------------------------------------------------------------------
    def progress_bar(self, items: list, desc: str) -> Any:
        return tqdm(items, desc=desc, leave=False, disable=not self.progress_on)

    def embed_split(self, name: str) -> np.ndarray:
        return embed(self.model, self.data.split(name).images, self.data.test_transform, device=self.device)

    def embed_train(self) -> np.ndarray:
        return self.embed_split("train")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network under autocast (bfloat16) when train.amp is on; the loss is taken in float32."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.settings.train.amp):
            return self.model(x).float()

    def step(self, step: Step, epoch: int, b: int) -> tuple[Any, torch.Tensor]:
        """Forward the step's distinct images once, pick its triplets, take the loss, step the optimiser."""
        images = self.data.split("train").images[torch.as_tensor(step.images)].to(self.device, non_blocking=True)
        emb = self.forward(self.data.train_transform(images))
        check_finite(emb, "embedding", epoch, b)
        a, p, n, is_random = step.select(emb.detach())
        ref = step.reference(emb)
        out = self.objective(emb[a], ref[p], ref[n])
        check_finite(out.total, "loss", epoch, b)
        self.optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        self.optimizer.step()
        return out, is_random

    def plan(self, ctx: EpochContext) -> EpochSteps:
        """The epoch's steps from the method's miner (overridden by the distributed trainer)."""
        s = self.settings.train
        return epoch_steps(ctx, self.miner, self.kappa, s.mined_fraction, s.warmup_epochs,
                           (s.semihard_classes, s.semihard_per_class))

    def random_zero_loss(self) -> float:
        """Share of the fixed probe of random training triplets whose ratio loss is zero (PAPER.md section 10)."""
        ids, inv = np.unique(np.concatenate([self.probe.anchors, self.probe.positives, self.probe.negatives]), return_inverse=True)
        emb = torch.from_numpy(embed(self.model, self.data.split("train").images[torch.as_tensor(ids)],
                                     self.data.test_transform, device=self.device))
        a, p, n = torch.as_tensor(inv).view(3, -1)
        out = self.objective(emb[a], emb[p], emb[n])
        return float((out.per_triplet == 0).float().mean())

    def evaluate_split(self, name: str) -> tuple[dict[str, float], np.ndarray]:
        return evaluate_network(self.model, self.data, name, self.settings, self.device)

    def measure(self, epoch: int) -> tuple[dict[str, Any], np.ndarray | None]:
        """After an epoch (or before the first, epoch 0): the probe, validation and (where due) test metrics."""
        t0 = time.perf_counter()
        ev = self.settings.evaluation
        last = epoch == self.settings.train.epochs
        out: dict[str, Any] = {"random_zero_loss": self.random_zero_loss()}
        if "val" in self.data.splits and (ev.every_epoch or last or epoch == 0):
            out.update({f"val_{k}": v for k, v in self.evaluate_split("val")[0].items()})
        test_emb = None
        if last or (ev.test_every_epoch and epoch > 0):
            metrics, test_emb = self.evaluate_split("test")
            out.update(metrics)
        out["t_eval"] = time.perf_counter() - t0
        return out, test_emb

    def keep_samples(self, epoch: int, mined: Triplets) -> None:
        real = np.flatnonzero(~mined.is_random)[:SAMPLES_PER_EPOCH]
        if len(real) == 0:
            return
        anchors = mined.anchors[real]
        rand = random_triplets(self.data.train_labels, anchors, np.random.default_rng([self.seed, epoch]))
        self.samples.append({
            "epoch": epoch,
            "mined": np.stack([anchors, mined.positives[real], mined.negatives[real]], 1).tolist(),
            "random": np.stack([rand.anchors, rand.positives, rand.negatives], 1).tolist(),
        })

    # -- state -----------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "config": self.key, "seed": self.seed, "code": training_code(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "kappa": self.kappa.state_dict() if self.kappa else None,
            "miner": self.miner.state_dict() if hasattr(self.miner, "state_dict") else None,
            "rng": rng_states(self.rng), "rows": self.rows, "samples": self.samples,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.kappa:
            self.kappa.load_state_dict(state["kappa"])
        if state.get("miner") is not None:
            self.miner.load_state_dict(state["miner"])
        restore_rng_states(state["rng"], self.rng)
        self.rows, self.samples, self.epoch = list(state["rows"]), list(state["samples"]), int(state["epoch"])

    def resume(self) -> str:
        """Load the run folder's checkpoint where it belongs to this run; returns the start time."""
        path = self.out / CHECKPOINT_NAME
        state = load_checkpoint(path)
        if state is not None and self.restart_if_changed and not same_run(state, self.key, self.seed):
            log.warning("%s: the parameters or the training code changed since the checkpoint was written; "
                        "training afresh", path)
            state = None
        if state is None:
            return now_iso()
        check_resumable(state, self.key, self.seed, path)
        self.load_state(state)
        log.info("resuming %s from epoch %d (epochs 1-%d reused)", self.out, self.epoch, self.epoch)
        return state.get("started") or now_iso()

    # -- the run ---------------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        epochs = self.settings.train.epochs
        started = self.resume()
        t_wall = float(self.rows[-1]["t_wall"]) if self.rows else 0.0
        if not self.rows:  # the state before training: pretrained-only (or untrained) network
            metrics, _ = self.measure(0)
            self.rows.append({**{c: math.nan for c in EPOCH_COLUMNS}, "epoch": 0, "t_wall": 0.0, **metrics})
        emb = None
        for epoch in range(self.epoch + 1, epochs + 1):
            row, emb = run_epoch(self, epoch)
            t_wall += row["t_epoch"]
            row["t_wall"] = t_wall
            self.rows.append(row)
            self.epoch = epoch
            self.write_epochs()
            self.checkpoint(started)
            log.info("epoch %d: loss %.4f, train error %.3f, kappa %s, fallbacks %s, val R@1 %.4f, %.1f s", epoch,
                     row["loss"], row["train_error"], _kappa_text(row["kappa"]), row["random_fallbacks"],
                     row.get("val_recall@1", math.nan), row["t_epoch"])
        if emb is None:  # finished earlier (or resumed after the last epoch): embed again for the outputs
            _, emb = self.evaluate_split("test")
            self.write_epochs()  # a pipeline may have removed the outputs before rerunning the job
        return self.write_outputs(emb, started)

    def checkpoint(self, started: str) -> None:
        save_checkpoint(self.out / CHECKPOINT_NAME, {**self.state(), "started": started})

    def write_outputs(self, emb: np.ndarray, started: str) -> dict[str, Any]:
        final = {k: v for k, v in self.rows[-1].items() if k.startswith(METRIC_PREFIXES)}
        atomic.write_npy(self.out / "test_embeddings.npy", emb)
        atomic.write_npy(self.out / "test_labels.npy", self.data.split("test").labels)
        atomic.write_json(self.out / "samples.json", {"train_paths": self.data.split("train").paths, "epochs": self.samples})
        if self.kappa is not None and hasattr(self.kappa, "history"):
            atomic.write_json(self.out / "controller.json", self.kappa.state_dict())
        atomic.write_json(self.out / "config.json", self.key)
        atomic.write_json(self.out / "provenance.json", provenance(
            str(self.device), self.seed,
            {"method": self.spec.name, "started": started, "finished": now_iso(), "threads": torch.get_num_threads(),
             "epochs": self.settings.train.epochs, "data": self.data.notes, "device_name": describe(self.device),
             "amp": self.settings.train.amp, "pretrained": self.settings.model.pretrained, "init": self.settings.model.init},
        ))
        atomic.write_json(self.out / "metrics.json", final)
        return final

    def write_epochs(self) -> None:
        df = pd.DataFrame(self.rows)
        cols = EPOCH_COLUMNS + [c for c in df.columns if c not in EPOCH_COLUMNS]
        with atomic.atomic_open(self.out / "epochs.csv", "w", newline="") as fh:
            df[cols].to_csv(fh, index=False)


def _kappa_text(kappa: float) -> str:
    """kappa for the epoch's log line: "none" where no boundary mined (a warm-up epoch, or a miner without kappa)."""
    return "none" if kappa is None or math.isnan(kappa) else f"{kappa:.3g}"
