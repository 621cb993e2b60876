"""Reading the run logs the training pipeline writes (the report's input edge).

Everything here turns files into DataFrames; nothing is computed beyond picking the final metrics.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smartmining.errors import SmartMiningError
from smartmining.runs import Run, profile_runs

# The test metrics of eval.json / metrics.json, fractions in [0, 1].
METRICS = ("nmi", "recall@1", "recall@2", "recall@4", "recall@8", "map@r", "r_precision")
KEY_COLUMNS = ["dataset", "run", "seed"]
UNTRAINED = "untrained"
PRETRAINED = "pretrained"
BASELINES = (UNTRAINED, PRETRAINED)  # results/<profile>/<baseline>/<dataset>[/seed<s>]/metrics.json


def expected_runs(cfg: dict[str, Any], out_dir: Path | None = None) -> list[Run]:
    """The runs of the profile's matrix, tuning and sweeps (``smartmining.runs`` owns the list); with the select
    stage's files under ``out_dir``, a sweep point equal to a final run reads that run's folder."""
    files = {d: Path(out_dir) / "selection" / f"{d}.json" for d in cfg["datasets"]} if out_dir is not None else {}
    selections = {d: json.loads(p.read_text()) for d, p in files.items() if p.is_file()}
    return profile_runs(cfg, selections=selections or None)


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SmartMiningError(f"{path}: no such file (expected {what})") from None
    except json.JSONDecodeError as exc:
        raise SmartMiningError(f"{path}: not valid JSON ({exc}); expected {what}") from None


def read_epochs_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SmartMiningError(f"{path}: not a readable CSV ({exc}); expected one row per epoch") from None
    missing = [c for c in ("epoch",) if c not in df.columns]
    if not {"recall@1", "val_recall@1"} & set(df.columns):
        missing.append("recall@1 or val_recall@1")
    if missing:
        raise SmartMiningError(f"{path}: missing column(s) {missing}; expected the epochs.csv of a training run")
    return df.sort_values("epoch").reset_index(drop=True)


def read_curves(runs_dir: Path, runs: list[Run]) -> tuple[pd.DataFrame, list[Run]]:
    """All epochs.csv rows with dataset, run, seed in front; and the runs that have no epochs.csv."""
    frames, missing = [], []
    for run in runs:
        path = Path(runs_dir) / run.folder / "epochs.csv"
        if not path.is_file():
            missing.append(run)
            continue
        df = read_epochs_csv(path)
        df.insert(0, "seed", run.seed)
        df.insert(0, "run", run.name)
        df.insert(0, "dataset", run.dataset)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=KEY_COLUMNS + ["epoch", "recall@1", "val_recall@1"]), missing
    return pd.concat(frames, ignore_index=True), missing


def final_metrics(folder: Path, last_row: pd.Series | None) -> tuple[dict[str, float], str]:
    """The run's final test metrics: eval.json, else metrics.json, else the last epoch row."""
    for name in ("eval.json", "metrics.json"):
        path = Path(folder) / name
        if path.is_file():
            data = read_json(path, "a JSON object of test metrics")
            if not isinstance(data, dict):
                raise SmartMiningError(f"{path}: expected a JSON object of test metrics, got {type(data).__name__}")
            return {k: float(v) for k, v in data.items() if k in METRICS}, name
    if last_row is not None:
        return {k: float(last_row[k]) for k in METRICS if k in last_row and not _isnan(last_row[k])}, "epochs.csv"
    return {}, ""


def read_finals(runs_dir: Path, runs: list[Run], curves: pd.DataFrame) -> pd.DataFrame:
    """Long table (dataset, run, seed, metric, value, source) of every run's final test metrics."""
    rows = []
    for run in runs:
        sel = curves[(curves["dataset"] == run.dataset) & (curves["run"] == run.name) & (curves["seed"] == run.seed)]
        last = sel.iloc[-1] if len(sel) else None
        metrics, source = final_metrics(Path(runs_dir) / run.folder, last)
        rows += [(run.dataset, run.name, run.seed, k, v, source) for k, v in metrics.items()]
    return pd.DataFrame(rows, columns=KEY_COLUMNS + ["metric", "value", "source"])


def read_baselines(out_dir: Path, datasets: list[str]) -> pd.DataFrame:
    """The untrained and the pretrained-only network's test metrics, per seed where the class split is redrawn
    per seed (results/<profile>/<baseline>/<dataset>/seed<s>/metrics.json, source "<baseline>/seed<s>"), else
    the one network shared by every seed (results/<profile>/<baseline>/<dataset>/metrics.json, seed 0, source
    "<baseline>")."""
    rows = []
    for dataset in datasets:
        for name in BASELINES:
            folder = Path(out_dir) / name / dataset
            found = sorted((int(p.parent.name[4:]), p) for p in folder.glob("seed*/metrics.json") if p.parent.name[4:].isdigit())
            if not found and (folder / "metrics.json").is_file():
                found = [(-1, folder / "metrics.json")]
            for seed, path in found:
                data = read_json(path, f"the {name} network's test metrics")
                if not isinstance(data, dict):
                    raise SmartMiningError(f"{path}: expected a JSON object of test metrics, got {type(data).__name__}")
                source = name if seed < 0 else f"{name}/seed{seed}"
                rows += [(dataset, name, max(seed, 0), k, float(v), source) for k, v in data.items() if k in METRICS]
    return pd.DataFrame(rows, columns=KEY_COLUMNS + ["metric", "value", "source"])


def read_embeddings(folder: Path) -> tuple[np.ndarray, np.ndarray] | None:
    emb, lab = Path(folder) / "test_embeddings.npy", Path(folder) / "test_labels.npy"
    if not (emb.is_file() and lab.is_file()):
        return None
    x, y = np.load(emb, allow_pickle=False), np.load(lab, allow_pickle=False)
    if x.ndim != 2 or len(x) != len(y):
        raise SmartMiningError(f"{emb}: expected an N x d array matching the {len(y)} labels of {lab}, got {x.shape}")
    return x, y


def read_samples(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / "samples.json"
    if not path.is_file():
        return None
    data = read_json(path, 'a JSON object {"train_paths": [...], "epochs": [...]}')
    if not isinstance(data, dict) or "train_paths" not in data or "epochs" not in data:
        raise SmartMiningError(f'{path}: expected a JSON object with keys "train_paths" and "epochs"')
    return data


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
