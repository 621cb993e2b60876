"""The frozen trunk's outputs, computed once per dataset (the pipeline's ``features`` stage) [ours].

With ``model.cache_frozen``, the first ``model.frozen_blocks`` blocks of an ImageNet backbone never change
(no gradient, batch norm in eval mode) and the images are not augmented, so their output for an image is
the same in every run and every epoch. The stage computes it once for every train/val/test image of the
prepared dataset; each run then trains and re-embeds only the later blocks and the head on those features,
which makes fine-tuning MobileNetV2 on a CPU affordable (docs/deviations.md). The results are the same as
computing the trunk inside each run, up to float16 storage of the features.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from smartmining.data.images import LoadedSplit
from smartmining.errors import SmartMiningError
from smartmining.settings import Settings

FEATURES_NAME = "features.npy"
INDEX_NAME = "features.json"


def check_cacheable(settings: Settings) -> None:
    """cache_frozen needs a backbone with frozen blocks and inputs without augmentation."""
    m = settings.model
    if m.backbone != "mobilenet_v2" or m.frozen_blocks < 1:
        raise SmartMiningError(f"model.cache_frozen needs model.backbone = mobilenet_v2 with model.frozen_blocks >= 1, "
                               f"got {m.backbone!r} with frozen_blocks = {m.frozen_blocks}")
    if settings.transform.get("train_augment"):
        raise SmartMiningError("model.cache_frozen needs transform.train_augment to be empty: an augmented image has "
                               f"no fixed trunk output (got {settings.transform['train_augment']})")


def feature_splits(manifest: pd.DataFrame, names: tuple[str, ...], features_dir: Path,
                   settings: Settings) -> dict[str, LoadedSplit]:
    """The splits ``names`` of the (redrawn) manifest, each image given as its stage features (by manifest path)."""
    index_path, array_path = Path(features_dir) / INDEX_NAME, Path(features_dir) / FEATURES_NAME
    if not index_path.is_file() or not array_path.is_file():
        raise SmartMiningError(f"{features_dir}: no {INDEX_NAME}/{FEATURES_NAME}; model.cache_frozen needs the features "
                               f"stage first (smartmining features --dataset ...)")
    record = json.loads(index_path.read_text())
    wanted = {"frozen_blocks": settings.model.frozen_blocks, "backbone": settings.model.backbone,
              "pretrained": settings.model.pretrained}
    if any(record.get(k) != v for k, v in wanted.items()):
        raise SmartMiningError(f"{index_path}: features of {({k: record.get(k) for k in wanted})}, this run needs "
                               f"{wanted}; run the features stage again")
    row = {path: i for i, path in enumerate(record["paths"])}
    features = torch.from_numpy(np.load(array_path))
    out = {}
    for name in names:
        rows = manifest[manifest["split"] == name]
        paths = rows["path"].astype(str).tolist()
        missing = [p for p in paths if p not in row]
        if missing:
            raise SmartMiningError(f"{array_path}: no features for {len(missing)} image(s) of the {name!r} split "
                                   f"(first: {missing[0]}); run the features stage again")
        out[name] = LoadedSplit(features[[row[p] for p in paths]], rows["label"].to_numpy(dtype=np.int64), paths, [])
    return out


class FeatureTransform:
    """The transform of cached features: float32, nothing else (the images' transform ran in the stage)."""

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float()
