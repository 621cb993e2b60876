"""Before the first training job: every condition on the prepared data that a later stage of the profile
would fail on, checked at once (the pipeline's `check` rule, `smartmining check`).

A profile written for one dataset can be doomed on another: tuning runs without validation classes
fail at the select stage after every sweep has trained; Recall@K past the validation images, neighbour
lists longer than the training set, or P x K batches with more classes than the data fail each run. Each
problem names the key, its value and what would work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from smartmining.data.manifest import read_manifest
from smartmining.data.registry import check_prepared
from smartmining.datacheck import colour_problem, data_problems
from smartmining.errors import SmartMiningError
from smartmining.runs import profile_runs, run_method, selection_runs
from smartmining.settings import Settings


def profile_problems(cfg: dict[str, Any], dataset: str, labels: dict[str, np.ndarray]) -> list[str]:
    """What the profile's stages need of the dataset's splits (``labels``: class labels per split present)."""
    settings = Settings.of(cfg)
    problems: list[str] = []
    val_classes = len(np.unique(labels["val"])) if "val" in labels else 0
    sweeps = selection_runs(cfg, dataset)
    if sweeps and val_classes < 2:
        names = sorted({r.name for r in sweeps})
        shown = ", ".join(names[:4]) + (f", ... ({len(names)} runs)" if len(names) > 4 else "")
        problems.append(f"data.{dataset}.val_classes: the tuning runs ({shown}) choose each method's hyperparameters "
                        f"on validation classes, but the prepared dataset has {val_classes}; set "
                        f"data.{dataset}.val_classes (say 20), or tuning.runs_per_method: 0 (the profile's values as they are)")
    metric = settings.evaluation.selection_metric
    if sweeps and metric.startswith("recall@") and int(metric.split("@")[1]) not in settings.evaluation.ks:
        problems.append(f"evaluation.selection_metric = {metric!r}: the runs log Recall@K for evaluation.ks = "
                        f"{list(settings.evaluation.ks)} only; add {metric.split('@')[1]} to evaluation.ks")
    if settings.model.init == "pretrain" and "source" not in labels:
        problems.append(f"model.init = 'pretrain': the pretrain stage trains on source classes, and dataset "
                        f"{dataset!r} has none; set model.init: scratch (or give the dataset source classes)")
    methods = {run_method(cfg, r.name).name: run_method(cfg, r.name) for r in profile_runs(cfg) if r.dataset == dataset}
    for spec in methods.values():
        problems += [p for p in data_problems(spec, settings, labels) if p not in problems]
    return problems


def check_dataset(cfg: dict[str, Any], dataset: str, data_dir: Path) -> dict[str, Any]:
    """Raise one SmartMiningError listing every problem of the profile on the prepared dataset in
    ``data_dir``; else a summary of the splits (classes and images per split)."""
    options = {**cfg["data"].get(dataset, {}), "skip_bad_images": cfg["train"].get("skip_bad_images", False)}
    manifest = read_manifest(check_prepared(dataset, Path(data_dir), **options))
    labels = {str(split): rows["label"].to_numpy() for split, rows in manifest.groupby("split")}
    problems = profile_problems(cfg, dataset, labels)
    train_paths = manifest.loc[manifest["split"] == "train", "path"].tolist()
    colour = colour_problem(Settings.of(cfg), train_paths, Path(data_dir), dataset)
    if colour:
        problems.append(colour)
    if problems:
        raise SmartMiningError(f"profile {cfg.get('profile')!r} cannot run on dataset {dataset!r} ({data_dir}): "
                               + "; ".join(problems))
    return {split: {"images": int(len(v)), "classes": int(len(np.unique(v)))} for split, v in sorted(labels.items())}
