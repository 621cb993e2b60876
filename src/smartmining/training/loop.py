"""The training loop of PAPER.md section 3: re-embed, index, mine, then batches of mined and random triplets.

One call of :func:`train` runs one (dataset, method, seed) to completion, resuming from the run folder's
checkpoint when there is one. Per epoch it appends a row to ``epochs.csv``; at the end it writes the test
embeddings, ``metrics.json`` and ``provenance.json``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from smartmining import atomic
from smartmining.controller import KappaController
from smartmining.data.images import load_images_checked
from smartmining.data.manifest import read_manifest
from smartmining.data.registry import prepare_dataset
from smartmining.data.batch_transforms import BatchTransform
from smartmining.errors import SmartMiningError
from smartmining.evaluation.metrics import evaluate
from smartmining.losses import TripletObjective, training_error
from smartmining.methods import MethodSpec, get_method
from smartmining.mining.base import OfflineMiner, Triplets
from smartmining.mining.hard import HardMiner
from smartmining.mining.random import random_triplets, valid_anchors
from smartmining.mining.semihard import SemiHardMiner, pk_batches
from smartmining.mining.smart import SmartMiner
from smartmining.models.embedding import EmbeddingNet, build_model, embed
from smartmining.pipeline import TRAINING_CODE_EXCLUDES, code_digest, resolve_run, run_config
from smartmining.provenance import now_iso, provenance
from smartmining.training.batches import mixed_batches
from smartmining.training.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)

log = logging.getLogger(__name__)

EPOCH_COLUMNS = [
    "epoch", "loss", "loss_triplet", "loss_global", "train_error", "kappa", "mined_fraction",
    "n_triplets", "n_images", "n_mined", "random_fallbacks", "lr", "t_embed", "t_index", "t_mine", "t_train",
    "t_eval", "t_epoch", "index", "index_recall",
]  # followed by the evaluation metrics (recall@K, nmi, map@r, r_precision)
SAMPLES_PER_EPOCH = 8  # mined triplets kept per epoch for the galleries of Figs. 5-6/10


@dataclass
class RunData:
    """A dataset's two splits held in memory as uint8 images, plus the transforms of the profile."""

    train_images: torch.Tensor
    train_labels: np.ndarray
    test_images: torch.Tensor
    test_labels: np.ndarray
    train_transform: Callable[[torch.Tensor], torch.Tensor]
    test_transform: Callable[[torch.Tensor], torch.Tensor]
    train_paths: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)  # what data preparation and loading left out


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SmartMiningError("train.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def load_run_data(cfg: dict[str, Any], dataset: str, data_dir: Path, device: torch.device | None = None) -> RunData:
    """Both splits as uint8 tensors in memory, at the transform's input size (``resize`` or ``size``)."""
    device = device or resolve_device(cfg["train"]["device"])
    manifest_path = prepare_dataset(dataset, data_dir, **cfg["data"].get(dataset, {}))
    manifest = read_manifest(manifest_path)
    spec = cfg["transform"]
    size = spec.get("resize", spec["size"])
    skip_bad = bool(cfg["train"].get("skip_bad_images", False))
    train, test = (load_images_checked(manifest, data_dir, split, size=size, channels=spec["channels"], skip_bad=skip_bad)
                   for split in ("train", "test"))
    if device.type == "cuda":  # page-locked memory: batches copy to the GPU asynchronously
        train.images, test.images = train.images.pin_memory(), test.images.pin_memory()
    record = json.loads((Path(data_dir) / "dataset.json").read_text()) if (Path(data_dir) / "dataset.json").exists() else {}
    return RunData(
        train.images, train.labels, test.images, test.labels,
        BatchTransform(spec, train=True), BatchTransform(spec, train=False),
        train_paths=train.paths,
        notes={"skipped_images": {"train": train.skipped, "test": test.skipped},
               "excluded_singleton_classes": record.get("excluded_singleton_classes", [])},
    )


def batch_tensor(images: torch.Tensor, idx: np.ndarray, transform: Callable, device: torch.device) -> torch.Tensor:
    """Move the batch's uint8 images to the device, then transform them there (each with its own draw)."""
    return transform(images[torch.as_tensor(idx)].to(device, non_blocking=True))


def build_miner(spec: MethodSpec, cfg: dict[str, Any]) -> OfflineMiner | None:
    mining = cfg.get("mining", {})
    if spec.miner == "hard":
        return HardMiner(chunk_size=mining.get("hard_chunk", 1024))
    if spec.miner == "smart":
        return SmartMiner(
            kappa=float(mining.get("kappa", cfg.get("controller", {}).get("kappa0", 16.0))), k=int(mining["k"]), index=mining["index"],
            index_params=mining.get("index_params") or {}, recall_sample=int(mining.get("recall_sample", 1000)),
        )
    return None


def build_controller(cfg: dict[str, Any]) -> KappaController:
    c = cfg["controller"]
    return KappaController(
        kappa0=float(c["kappa0"]), target_error=float(c["target_error"]),
        kappa_min=float(c["kappa_min"]), kappa_max=float(c["kappa_max"]), window=int(c["window"]),
        tolerance=float(c.get("tolerance", 0.05)),
    )


def build_optimizer(model: EmbeddingNet, cfg: dict[str, Any]) -> tuple[torch.optim.Optimizer, Any]:
    t = cfg["train"]
    groups = model.param_groups(base_lr=t["lr"], head_lr_mult=t["head_lr_mult"], weight_decay=t["weight_decay"])
    if t["optimizer"] == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(groups, lr=t["lr"], momentum=t["momentum"])
    else:
        opt = torch.optim.Adam(groups, lr=t["lr"])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t["lr_step_epochs"], gamma=t["lr_gamma"])
    return opt, sched


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def mine_with_labels(miner: SemiHardMiner, labels: torch.Tensor, emb: torch.Tensor) -> tuple:
    return miner.mine(emb, labels)


class NonFiniteError(SmartMiningError):
    pass


def check_finite(value: torch.Tensor, what: str, epoch: int, batch: int) -> None:
    if not torch.isfinite(value).all():
        raise NonFiniteError(
            f"non-finite {what} at epoch {epoch}, batch {batch}; the run stops here and keeps the "
            f"checkpoint of epoch {epoch - 1}. Lower train.lr or check the data."
        )


class Trainer:
    """One run. Holds the model, optimiser, miner, controller and the per-epoch log."""

    def __init__(self, cfg: dict[str, Any], method: str, seed: int, data: RunData, out: Path, *, progress: bool = True,
                 restart_if_changed: bool = False):
        self.cfg, self.spec, self.seed, self.data, self.out = cfg, get_method(method), seed, data, Path(out)
        self.progress, self.restart_if_changed = progress, restart_if_changed
        t = cfg["train"]
        torch.set_num_threads(int(t["threads"]))
        self.device = resolve_device(t["device"])
        self.amp = bool(t.get("amp", False))
        self.rng = seed_everything(seed)
        m = cfg["model"]
        extra = {k: m[k] for k in ("widths", "in_channels") if k in m and m["backbone"] == "convnet"}
        self.model = build_model(m["backbone"], embedding_dim=m["embedding_dim"], pretrained=m["pretrained"], **extra)
        self.model.to(self.device)
        self.optimizer, self.scheduler = build_optimizer(self.model, cfg)
        loss = cfg["loss"]
        global_params = {"global_t": loss["global_t"], "global_lambda": loss["global_lambda"]} if self.spec.use_global else {}
        self.objective = TripletObjective(
            triplet=loss["triplet"], margin=loss["margin"], use_global=self.spec.use_global, **global_params
        )
        self.miner = build_miner(self.spec, cfg)
        self.controller = build_controller(cfg) if self.spec.adaptive else None
        self.anchors = valid_anchors(data.train_labels)
        self.rows: list[dict[str, Any]] = []
        self.samples: list[dict[str, Any]] = []
        self.epoch = 0
        n_train = len(data.train_labels)
        if t["batch_triplets"] > n_train:
            raise SmartMiningError(f"train.batch_triplets = {t['batch_triplets']} exceeds the {n_train} training images")
        if self.spec.miner == "smart" and cfg["mining"]["k"] >= n_train:
            raise SmartMiningError(f"mining.k = {cfg['mining']['k']} must be smaller than the {n_train} training images")

    # -- state -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "config": self.cfg,
            "method": self.spec.name,
            "seed": self.seed,
            "code": training_code(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "controller": self.controller.state_dict() if self.controller else None,
            "rng": rng_states(self.rng),
            "rows": self.rows,
            "samples": self.samples,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.controller:
            self.controller.load_state_dict(state["controller"])
        restore_rng_states(state["rng"], self.rng)
        self.rows, self.samples, self.epoch = list(state["rows"]), list(state["samples"]), int(state["epoch"])

    # -- one epoch ---------------------------------------------------------------------------------
    def current_kappa(self) -> float:
        return float(self.controller.kappa if self.spec.adaptive else self.cfg["mining"]["kappa"])

    def epoch_batches(self, epoch: int, row: dict[str, Any]) -> list[Triplets]:
        """Triplets of this epoch, in batches; fills the mining columns of ``row``."""
        t = self.cfg["train"]
        labels = self.data.train_labels
        n = t["triplets_per_epoch"] or len(self.anchors)
        anchors = self.rng.choice(self.anchors, size=n, replace=n > len(self.anchors))
        mining = self.miner is not None and epoch > t["warmup_epochs"]
        fraction = float(t["mined_fraction"]) if mining else 0.0
        n_mined = int(round(fraction * n))
        mined = Triplets.concat()
        if mining:
            t0 = time.perf_counter()
            emb = embed(self.model, self.data.train_images, self.data.test_transform, device=self.device)
            row["t_embed"] = time.perf_counter() - t0
            if self.spec.miner == "smart":
                self.miner.kappa = self.current_kappa()
            t0 = time.perf_counter()
            mined = self.miner.mine(emb, labels, anchors[:n_mined], self.rng)
            t_total = time.perf_counter() - t0
            stats = self.miner.stats
            row["t_index"] = float(stats.get("t_index", 0.0))
            row["t_mine"] = t_total - row["t_index"]
            row["random_fallbacks"] = int(stats.get("random_fallbacks", 0))
            row["index"] = stats.get("index", "exhaustive")
            row["index_recall"] = float(stats.get("index_recall", 1.0))
            self.keep_samples(epoch, mined)
        rand = random_triplets(labels, anchors[n_mined:], self.rng)
        row.update(mined_fraction=fraction, n_mined=len(mined),
                   kappa=self.current_kappa() if mining and self.spec.miner == "smart" else math.nan)
        return mixed_batches(mined, rand, int(t["batch_triplets"]), self.rng)

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network under autocast (bfloat16) when train.amp is on; the loss is taken in float32."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return self.model(x).float()

    def step(self, images_idx: np.ndarray, select: Callable[[torch.Tensor], tuple], epoch: int, b: int):
        """Forward the batch's distinct images once, pick its triplets (``select``: embeddings -> a, p, n
        positions in the batch), take the loss over them, step the optimiser."""
        x = batch_tensor(self.data.train_images, images_idx, self.data.train_transform, self.device)
        emb = self.forward(x)
        check_finite(emb, "embedding", epoch, b)
        a, p, n = select(emb.detach())
        out = self.objective(emb[a], emb[p], emb[n])
        check_finite(out.total, "loss", epoch, b)
        self.optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        self.optimizer.step()
        return out

    def epoch_steps(self, epoch: int, row: dict[str, Any]) -> list[tuple[np.ndarray, Callable]]:
        """The epoch's batches as (distinct image indices, triplet selection) pairs."""
        if self.spec.miner == "semihard":  # online: P x K batches, triplets chosen after the forward pass
            t = self.cfg["train"]
            miner = SemiHardMiner(margin=self.cfg["loss"]["margin"])
            row.update(mined_fraction=1.0, kappa=math.nan)
            batches = pk_batches(self.data.train_labels, t["semihard_classes"], t["semihard_per_class"], self.rng)
            labels = torch.as_tensor(self.data.train_labels, device=self.device)
            return [(idx, functools.partial(mine_with_labels, miner, labels[torch.as_tensor(idx)])) for idx in batches]
        steps = []
        for trip in self.epoch_batches(epoch, row):  # offline: triplets fixed before the epoch
            uniq, inv = np.unique(np.concatenate([trip.anchors, trip.positives, trip.negatives]), return_inverse=True)
            inv = torch.as_tensor(inv, device=self.device).view(3, -1)
            steps.append((uniq, lambda emb, inv=inv: (inv[0], inv[1], inv[2])))
        return steps

    def train_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        sums = {"loss": 0.0, "loss_triplet": 0.0, "loss_global": 0.0}
        per_triplet: list[torch.Tensor] = []
        self.model.train()
        steps = self.epoch_steps(epoch, row)
        t0 = time.perf_counter()
        n_triplets = n_images = 0
        for b, (idx, select) in enumerate(tqdm(steps, desc=f"epoch {epoch}", leave=False, disable=not self.progress)):
            out = self.step(np.asarray(idx), select, epoch, b)
            k = len(out.per_triplet)
            n_triplets, n_images = n_triplets + k, n_images + len(idx)
            sums["loss"] += float(out.total.detach()) * k
            sums["loss_triplet"] += out.triplet * k
            sums["loss_global"] += out.global_ * k
            per_triplet.append(out.per_triplet.detach().cpu())
        row["t_train"] = time.perf_counter() - t0
        row["n_triplets"], row["n_images"] = n_triplets, n_images
        for key, total in sums.items():
            row[key] = total / max(n_triplets, 1)
        row["train_error"] = training_error(torch.cat(per_triplet)) if per_triplet else math.nan

    def evaluate_test(self) -> tuple[dict[str, float], np.ndarray]:
        emb = embed(self.model, self.data.test_images, self.data.test_transform, device=self.device)
        ev = self.cfg["evaluation"]
        return evaluate(emb, self.data.test_labels, ks=tuple(ev["ks"]), seed=int(ev["seed"])), emb

    def run_epoch(self, epoch: int) -> np.ndarray | None:
        row: dict[str, Any] = {c: math.nan for c in EPOCH_COLUMNS}
        row.update(epoch=epoch, lr=self.optimizer.param_groups[0]["lr"], t_embed=0.0, t_index=0.0, t_mine=0.0,
                   random_fallbacks=0, n_mined=0, index="", mined_fraction=0.0)
        t_start = time.perf_counter()
        self.train_epoch(epoch, row)
        if self.spec.adaptive and epoch > self.cfg["train"]["warmup_epochs"]:  # kappa was the controller's
            self.controller.observe(float(row["train_error"]))
        self.scheduler.step()
        emb = None
        last = epoch == self.cfg["train"]["epochs"]
        if self.cfg["evaluation"]["every_epoch"] or last:
            t0 = time.perf_counter()
            metrics, emb = self.evaluate_test()
            row["t_eval"] = time.perf_counter() - t0
            row.update(metrics)
        row["t_epoch"] = time.perf_counter() - t_start
        self.rows.append(row)
        self.epoch = epoch
        return emb

    # -- the run -----------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        epochs = int(self.cfg["train"]["epochs"])
        ckpt_path = self.out / CHECKPOINT_NAME
        state = load_checkpoint(ckpt_path)
        if state is not None and self.restart_if_changed and not same_run(state, self.cfg, self.spec.name, self.seed):
            log.warning("%s: the parameters or the training code changed since the checkpoint was written; "
                        "training afresh", ckpt_path)
            state = None
        if state is not None:
            check_resumable(state, self.cfg, self.spec.name, self.seed, ckpt_path)
            self.load_state(state)
            log.info("resuming %s from epoch %d", self.out, self.epoch)
        started = state.get("started") if state else now_iso()
        bar = tqdm(range(self.epoch + 1, epochs + 1), desc=f"{self.spec.name} seed {self.seed}",
                   disable=not self.progress, initial=self.epoch, total=epochs)
        emb = None
        for epoch in bar:
            emb = self.run_epoch(epoch)
            self.write_epochs()
            save_checkpoint(ckpt_path, {**self.state(), "started": started})
            bar.set_postfix({k: f"{self.rows[-1].get(k, math.nan):.3f}" for k in ("loss", "train_error", "recall@1")})
        if emb is None:  # finished earlier (or resumed after the last epoch): embed again for the outputs
            _, emb = self.evaluate_test()
            self.write_epochs()  # a pipeline may have removed the outputs before rerunning the job
        final = {k: v for k, v in self.rows[-1].items() if k.startswith(("recall@", "nmi", "map@r", "r_precision"))}
        atomic.write_npy(self.out / "test_embeddings.npy", emb)
        atomic.write_npy(self.out / "test_labels.npy", self.data.test_labels)
        atomic.write_json(self.out / "samples.json", {"train_paths": self.data.train_paths, "epochs": self.samples})
        if self.controller:
            atomic.write_json(self.out / "controller.json", self.controller.state_dict())
        atomic.write_json(self.out / "config.json", self.cfg)
        atomic.write_json(self.out / "provenance.json", provenance(
            str(self.device), self.seed,
            {"method": self.spec.name, "started": started, "finished": now_iso(),
             "threads": torch.get_num_threads(), "epochs": epochs, "data": self.data.notes},
        ))
        atomic.write_json(self.out / "metrics.json", final)
        return final

    def write_epochs(self) -> None:
        df = pd.DataFrame(self.rows)
        cols = EPOCH_COLUMNS + [c for c in df.columns if c not in EPOCH_COLUMNS]
        with atomic.atomic_open(self.out / "epochs.csv", "w", newline="") as fh:
            df[cols].to_csv(fh, index=False)


def same_config(state: dict[str, Any], cfg: dict[str, Any]) -> bool:
    return json.dumps(state.get("config"), sort_keys=True, default=str) == json.dumps(cfg, sort_keys=True, default=str)


def same_run(state: dict[str, Any], cfg: dict[str, Any], method: str, seed: int) -> bool:
    """Written by this run with these parameters and this training code (the pipeline's notion of a rerun)."""
    return (state.get("method") == method and state.get("seed") == seed
            and state.get("code") == training_code() and same_config(state, cfg))


@functools.cache
def training_code() -> str:
    return code_digest(exclude=TRAINING_CODE_EXCLUDES)


def check_resumable(state: dict[str, Any], cfg: dict[str, Any], method: str, seed: int, path: Path) -> None:
    """A checkpoint resumes only the run that wrote it: same config, method and seed."""
    if state.get("method") != method or state.get("seed") != seed:
        raise SmartMiningError(
            f"{path} belongs to method {state.get('method')!r} seed {state.get('seed')}, not {method!r} seed "
            f"{seed}; use another --out or remove the checkpoint"
        )
    if not same_config(state, cfg):
        raise SmartMiningError(
            f"{path} was written with other parameters than the ones given now; remove the run folder "
            f"{path.parent} (or pass --restart) to train afresh with the new ones"
        )


def train(
    profile: dict[str, Any], dataset: str, run_name: str, seed: int, out: Path, data_dir: Path,
    *, progress: bool = True, restart: bool = False, restart_if_changed: bool = False,
) -> dict[str, Any]:
    """Train the run ``run_name`` (a method, or a sweep point) of the resolved profile ``profile``."""
    method, overrides = resolve_run(profile, run_name)
    cfg = run_config(profile, dataset, method, overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if restart:
        (out / CHECKPOINT_NAME).unlink(missing_ok=True)
    data = load_run_data(cfg, dataset, Path(data_dir))
    return Trainer(cfg, method, seed, data, out, progress=progress, restart_if_changed=restart_if_changed).fit()


def untrained_baseline(cfg: dict[str, Any], dataset: str, data_dir: Path, out: Path) -> dict[str, float]:
    """Test metrics of the randomly initialised network: the floor any training must beat."""
    data = load_run_data(cfg, dataset, Path(data_dir))
    trainer = Trainer(cfg, "random", int(cfg["seeds"][0]), data, Path(out), progress=False)
    metrics, emb = trainer.evaluate_test()
    out = Path(out)
    atomic.write_npy(out / "test_embeddings.npy", emb)
    atomic.write_npy(out / "test_labels.npy", data.test_labels)
    atomic.write_json(out / "metrics.json", metrics)
    return metrics
