"""The jobs the CLI and the pipeline start: train one run, pretrain a backbone, evaluate a baseline network."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smartmining import atomic
from smartmining.data.batch_transforms import BatchTransform
from smartmining.data.images import load_images_checked
from smartmining.data.manifest import read_manifest
from smartmining.data.registry import check_prepared
from smartmining.data.splits import REDRAWN_SPLITS
from smartmining.datacheck import check_run_data
from smartmining.errors import SmartMiningError
from smartmining.runs import ResolvedRun, features_dir, init_path, resolve
from smartmining.settings import Settings
from smartmining.training import distributed
from smartmining.training.checkpoint import CHECKPOINT_NAME
from smartmining.training.data import load_run_data
from smartmining.training.features import FEATURES_NAME, INDEX_NAME, check_cacheable
from smartmining.training.placement import place
from smartmining.training.pretrain import pretrain
from smartmining.training.trainer import Trainer, build_network, evaluate_network, seed_everything


def wants_gpu(profile: dict[str, Any], rule: str = "train") -> bool:
    """Whether the profile's pipeline gives this kind of job a GPU (params.yaml's resources)."""
    return bool(profile.get("resources", {}).get(rule, {}).get("gpu", 0))


def train(run: ResolvedRun, seed: int, out: Path, data_dir: Path, *, init_from: Path | None = None,
          features: Path | None = None, progress: bool = True, restart: bool = False,
          restart_if_changed: bool = False, threads: int | None = None) -> dict[str, Any]:
    """Train one resolved run to completion, resuming from ``out``'s checkpoint; returns the final test metrics.
    ``threads``: the CPU threads the job was given (default: train.threads); not part of the run's key."""
    settings = Settings.of(run.profile)
    out = Path(out)
    # under torchrun (WORLD_SIZE > 1) this process is one rank of the run (training/distributed.py)
    rank, world = distributed.setup(settings.train.device)
    settings, _ = place(settings, threads=threads, wants_gpu=wants_gpu(run.profile), job=f"train {run.method.name} seed {seed}",
                        distributed=world > 1)
    data = load_run_data(settings, run.dataset, Path(data_dir), seed=seed, features=features)
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
    options.setdefault("features", features_dir(profile, dataset))
    return train(run, seed, out, data_dir, init_from=init_from or init_path(profile, dataset), **options)


def pretrain_backbone(profile: dict[str, Any], dataset: str, data_dir: Path, out: Path, seed: int = 0,
                      threads: int | None = None) -> dict[str, Any]:
    settings, _ = place(Settings.of(profile), threads=threads, wants_gpu=wants_gpu(profile, "pretrain"), job=f"pretrain {dataset}")
    data = load_run_data(settings, dataset, Path(data_dir), purpose="pretrain")
    return pretrain(settings, data, Path(out), seed)


def baseline(profile: dict[str, Any], dataset: str, data_dir: Path, out: Path, *, init_from: Path | None = None,
             seed: int = 0, kind: str = "untrained", threads: int | None = None) -> dict[str, float]:
    """Test metrics of the network before any metric learning, under a new head: ``untrained`` (random
    weights) or ``pretrained`` (the network every run starts from: ImageNet weights, or the pretrain stage's
    backbone given as ``init_from``): the floors every table shows."""
    if kind not in ("untrained", "pretrained"):
        raise SmartMiningError(f"baseline kind must be 'untrained' or 'pretrained', got {kind!r}")
    settings, _ = place(Settings.of(profile), threads=threads, wants_gpu=wants_gpu(profile, "baseline"),
                        job=f"baseline {dataset} ({kind}, seed {seed})")
    if kind == "untrained":
        settings = replace(settings, model=replace(settings.model, init="scratch", pretrained=False))
        init_from = None
    data = load_run_data(settings, dataset, Path(data_dir), purpose="baseline", seed=seed)
    seed_everything(seed)
    device = torch.device(settings.train.device)
    metrics, emb = evaluate_network(build_network(settings, init_from).to(device), data, "test", settings, device)
    out = Path(out)
    atomic.write_npy(out / "test_embeddings.npy", emb)
    atomic.write_npy(out / "test_labels.npy", data.split("test").labels)
    atomic.write_json(out / "metrics.json", metrics)
    return metrics


def cache_features(profile: dict[str, Any], dataset: str, data_dir: Path, out: Path, batch_size: int = 256,
                   threads: int | None = None) -> dict[str, Any]:
    """The features stage (model.cache_frozen): the frozen trunk's output (float16) for every train/val/test
    image of the prepared dataset, so that every run trains and re-embeds only the later blocks."""
    settings, _ = place(Settings.of(profile), threads=threads, wants_gpu=wants_gpu(profile, "features"),
                        job=f"features {dataset}")
    check_cacheable(settings)
    options = {**settings.data.get(dataset, {}), "skip_bad_images": settings.train.skip_bad_images}
    manifest = read_manifest(check_prepared(dataset, Path(data_dir), **options))
    manifest = manifest[manifest["split"].isin(REDRAWN_SPLITS)].assign(split="train")  # every such image, one pass
    spec = settings.transform
    loaded = load_images_checked(manifest, Path(data_dir), "train", size=spec.get("resize") or spec["size"],
                                 channels=spec["channels"], skip_bad=settings.train.skip_bad_images)
    device = torch.device(settings.train.device)
    seed_everything(0)
    trunk = build_network(settings).backbone.to(device).eval()
    transform = BatchTransform(spec, train=False)
    chunks = []
    with torch.no_grad():
        for start in range(0, len(loaded.paths), batch_size):
            chunks.append(trunk.trunk(transform(loaded.images[start:start + batch_size].to(device)))
                          .to(torch.float16).cpu().numpy())
    features = np.concatenate(chunks)
    atomic.write_npy(Path(out) / FEATURES_NAME, features)
    record = {"paths": loaded.paths, "shape": list(features.shape[1:]), "frozen_blocks": settings.model.frozen_blocks,
              "backbone": settings.model.backbone, "pretrained": settings.model.pretrained}
    atomic.write_json(Path(out) / INDEX_NAME, record)  # written last: its presence means the stage finished
    return {k: v for k, v in record.items() if k != "paths"} | {"images": len(loaded.paths)}
