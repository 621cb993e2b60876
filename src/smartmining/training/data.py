"""A run's data: the prepared dataset's splits as uint8 tensors (in memory, or on disk above
``train.max_memory_gb``: data/stream.py), with the profile's transforms.

Training reads what the pipeline's ``prepare`` stage wrote and never writes into the data folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from smartmining.data.batch_transforms import BatchTransform
from smartmining.data.images import LoadedSplit, load_images_checked
from smartmining.data.manifest import read_manifest
from smartmining.data.registry import check_prepared
from smartmining.data.splits import redraw_split
from smartmining.data.stream import disk_split, split_bytes
from smartmining.errors import SmartMiningError
from smartmining.settings import Settings
from smartmining.training.features import FeatureTransform, feature_splits

SPLITS_FOR = {"train": ("train", "val", "test"), "pretrain": ("source",), "baseline": ("val", "test")}


@dataclass
class RunData:
    """The splits a job needs (``train``, ``val``, ``test``, ``source``), and the profile's transforms."""

    splits: dict[str, LoadedSplit]
    train_transform: Callable[[torch.Tensor], torch.Tensor]
    test_transform: Callable[[torch.Tensor], torch.Tensor]
    notes: dict[str, Any] = field(default_factory=dict)  # what data preparation and loading left out

    def split(self, name: str) -> LoadedSplit:
        if name not in self.splits:
            raise SmartMiningError(f"the prepared dataset has no {name!r} split (splits present: {sorted(self.splits)})")
        return self.splits[name]

    @property
    def train_labels(self) -> np.ndarray:
        return self.split("train").labels


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SmartMiningError("train.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def with_pools(manifest: pd.DataFrame, data_dir: Path) -> pd.DataFrame:
    """The manifest with each class's ``pool`` from the dataset's classes.csv, where it has one (Omniglot:
    background or evaluation alphabets), so a redrawn split keeps test classes in their own pool."""
    path = Path(data_dir) / "classes.csv"
    if not path.is_file():
        return manifest
    classes = pd.read_csv(path, dtype={"class_name": str, "pool": str})
    if "pool" not in classes.columns:
        return manifest
    pools = dict(zip(classes["class_name"], classes["pool"]))
    missing = sorted(set(manifest["class_name"]) - set(pools))
    if missing:
        raise SmartMiningError(f"{path}: no pool for {len(missing)} class(es) of the manifest (first: {missing[0]}); "
                               f"prepare the dataset again")
    return manifest.assign(pool=manifest["class_name"].map(pools))


def load_run_data(settings: Settings, dataset: str, data_dir: Path, purpose: str = "train",
                  seed: int | None = None, features: Path | None = None) -> RunData:
    """The splits ``purpose`` needs, at the transform's input size (``resize`` or ``size``); a split the
    manifest lacks is left out (``val``) or an error when the job cannot do without it. With
    ``train.redraw_split``, the run's ``seed`` redraws which classes train, validate and test. With
    ``features`` (model.cache_frozen), a training run reads the features stage's trunk outputs instead."""
    data_dir = Path(data_dir)
    options = {**settings.data.get(dataset, {}), "skip_bad_images": settings.train.skip_bad_images}
    manifest = read_manifest(check_prepared(dataset, data_dir, **options))
    if settings.train.redraw_split and seed is not None:
        manifest = redraw_split(with_pools(manifest, data_dir), seed)
    if features is not None and purpose == "train":
        names = tuple(n for n in SPLITS_FOR[purpose] if n in set(manifest["split"]))
        return RunData(feature_splits(manifest, names, features, settings), FeatureTransform(), FeatureTransform(),
                       notes={"streaming": False, "cached_features": str(features), "skipped_images": {},
                              "excluded_singleton_classes": []})
    spec = settings.transform
    size = spec.get("resize") or spec["size"]
    present = set(manifest["split"])
    # above the memory budget, the splits stay on disk as uint8 files read per batch (data/stream.py)
    streaming = split_bytes(manifest, SPLITS_FOR[purpose], size, spec["channels"]) > settings.train.max_memory_gb * 1e9
    load = disk_split if streaming else load_images_checked
    splits = {}
    for name in SPLITS_FOR[purpose]:
        if name not in present and name == "val":
            continue
        splits[name] = load(manifest, data_dir, name, size=size, channels=spec["channels"],
                            skip_bad=settings.train.skip_bad_images)
    device = resolve_device(settings.train.device)
    if device.type == "cuda" and not streaming:  # page-locked memory: batches copy to the GPU asynchronously
        splits = {name: replace(s, images=s.images.pin_memory()) for name, s in splits.items()}
    record_path = data_dir / "dataset.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    return RunData(
        splits, BatchTransform(spec, train=True), BatchTransform(spec, train=False),
        notes={"streaming": streaming, "skipped_images": {k: s.skipped for k, s in splits.items()},
               "excluded_singleton_classes": record.get("excluded_singleton_classes", [])},
    )
