"""The jobs the CLI and the pipeline start: train one run, pretrain a backbone, evaluate a baseline network."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from smartmining import atomic
from smartmining.datacheck import check_run_data
from smartmining.runs import ResolvedRun, init_path, resolve
from smartmining.settings import Settings
from smartmining.training import distributed
from smartmining.training.checkpoint import CHECKPOINT_NAME
from smartmining.training.data import load_run_data
from smartmining.training.placement import place
from smartmining.training.pretrain import pretrain
from smartmining.training.trainer import Trainer, build_network, evaluate_network, seed_everything


def wants_gpu(profile: dict[str, Any], rule: str = "train") -> bool:
    """Whether the profile's pipeline gives this kind of job a GPU (params.yaml's resources)."""
    return bool(profile.get("resources", {}).get(rule, {}).get("gpu", 0))


def train(run: ResolvedRun, seed: int, out: Path, data_dir: Path, *, init_from: Path | None = None,
          progress: bool = True, restart: bool = False, restart_if_changed: bool = False,
          threads: int | None = None) -> dict[str, Any]:
    """Train one resolved run to completion, resuming from ``out``'s checkpoint; returns the final test metrics.
    ``threads``: the CPU threads the job was given (default: train.threads); not part of the run's key."""
    settings = Settings.of(run.profile)
    out = Path(out)
    # under torchrun (WORLD_SIZE > 1) this process is one rank of the run (training/distributed.py)
    rank, world = distributed.setup(settings.train.device)
    settings, _ = place(settings, threads=threads, wants_gpu=wants_gpu(run.profile), job=f"train {run.method.name} seed {seed}",
                        distributed=world > 1)
    data = load_run_data(settings, run.dataset, Path(data_dir))
    check_run_data(run.method, settings, data, Path(data_dir), run.dataset)  # before the run folder exists
    out.mkdir(parents=True, exist_ok=True)
    if restart:
        distributed.remove_checkpoint(out / CHECKPOINT_NAME, rank)
    cls = distributed.DistributedTrainer if world > 1 else Trainer
    trainer = cls(run.method, settings, run.key, seed, data, out, progress=progress and rank == 0,
                  restart_if_changed=restart_if_changed, init_from=init_from)
    try:
        return trainer.fit()
    finally:
        if world > 1:
            distributed.teardown()


def train_named(profile: dict[str, Any], dataset: str, name: str, seed: int, out: Path, data_dir: Path, *,
                selection: dict[str, Any] | None = None, init_from: Path | None = None, **options: Any) -> dict[str, Any]:
    """Train the run ``name`` (a method or a sweep point) of a resolved profile: what `smartmining train` does."""
    run = resolve(profile, dataset, name, selection)
    return train(run, seed, out, data_dir, init_from=init_from or init_path(profile, dataset), **options)


def pretrain_backbone(profile: dict[str, Any], dataset: str, data_dir: Path, out: Path, seed: int = 0,
                      threads: int | None = None) -> dict[str, Any]:
    settings, _ = place(Settings.of(profile), threads=threads, wants_gpu=wants_gpu(profile, "pretrain"), job=f"pretrain {dataset}")
    data = load_run_data(settings, dataset, Path(data_dir), purpose="pretrain")
    return pretrain(settings, data, Path(out), seed)


def baseline(profile: dict[str, Any], dataset: str, data_dir: Path, out: Path, *, init_from: Path | None = None,
             seed: int = 0, threads: int | None = None) -> dict[str, float]:
    """Test metrics of the network before any metric learning: untrained (``init_from`` None, scratch) or
    pretrained-only (the pretrain stage's backbone under a new head): the floors every table shows."""
    settings, _ = place(Settings.of(profile), threads=threads, wants_gpu=wants_gpu(profile, "baseline"),
                        job=f"baseline {dataset}" + (" (pretrained)" if init_from else ""))
    if init_from is None:
        settings = replace(settings, model=replace(settings.model, init="scratch"))
    data = load_run_data(settings, dataset, Path(data_dir), purpose="baseline")
    seed_everything(seed)
    device = torch.device(settings.train.device)
    metrics, emb = evaluate_network(build_network(settings, init_from).to(device), data, "test", settings, device)
    out = Path(out)
    atomic.write_npy(out / "test_embeddings.npy", emb)
    atomic.write_npy(out / "test_labels.npy", data.split("test").labels)
    atomic.write_json(out / "metrics.json", metrics)
    return metrics
