"""Synthetic run logs for the report tests: known final values per method and seed, known curves.

Final test R@1 per seed (FINAL_R1) is chosen so that each paired comparison has a known verdict:
smart - random = [.05, .06, .04] (better), smart - semihard = [.03, -.02, 0] (no detectable difference),
smart+global - smart = [-.04, -.05, -.03] (smart better), random+global vs random+global's pair, etc.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from smartmining.report.runs import METRICS, expected_runs
from smartmining.runs import sweep_point

SEEDS = [0, 1, 2]
EPOCHS = 6
N_TRAIN, N_TEST, N_CLASSES = 12, 40, 4
TRIPLETS, STEPS = 300, 5
FINAL_R1 = {
    "random": [0.40, 0.42, 0.41],
    "random+global": [0.40, 0.43, 0.40],
    "semihard": [0.42, 0.50, 0.45],
    "smart": [0.45, 0.48, 0.45],
    "smart+global": [0.41, 0.43, 0.42],
    "smart+global+adaptive": [0.43, 0.44, 0.43],
}
METHODS = list(FINAL_R1)
SWEEP_R1 = {"kappa": {1: 0.30, 4: 0.36}, "kappa0": {1: 0.33, 16: 0.35}, "fraction": {0.2: 0.31, 0.6: 0.37}}
# Validation R@1 as a share of the final value, epochs 0..EPOCHS.
PLATEAU = [0.5, 0.8, 0.9, 0.95, 0.98, 0.995, 1.0]
ADAPTIVE = [0.5, 0.96, 0.99, 1.0, 1.0, 1.0, 1.0]  # 95% at epoch 1
FIXED = {0: [0.5, 0.6, 0.7, 0.8, 0.9, 0.96, 1.0], 1: [0.5, 0.6, 0.7, 0.8, 0.9, 0.96, 1.0],
         2: [0.5, 0.6, 0.7, 0.8, 0.95, 0.97, 1.0]}  # 95% at epochs 5, 5, 4; last step 4 or 3 points: not converged
ZERO_LOSS = {0: 0.8, 1: 0.7, EPOCHS: 0.9}
T_EVAL = 0.3
REEMBEDDED, REEMBED_COST = 100, 0.45  # images re-embedded per mining epoch, their cost in training passes
OLD_COLUMNS = ["epoch", "loss", "train_error", "kappa", "mined_fraction", "n_triplets", "n_mined", "random_fallbacks",
               "lr", "t_embed", "t_index", "t_mine", "t_train", "t_eval", "t_epoch", "index", "index_recall", *METRICS]


def final_r1(run: str, seed: int) -> float:
    point = sweep_point(run)
    return SWEEP_R1[point.sweep][point.value] if point else FINAL_R1[run][seed]


def shape(run: str, seed: int) -> list[float]:
    if run == "smart+global":
        return FIXED[seed]
    return ADAPTIVE if "adaptive" in run or run.startswith("sweep-kappa0") else PLATEAU


def offline(run: str) -> bool:
    return run.startswith("smart") or run.startswith("sweep-")


def passes(run: str, epoch: int) -> int:
    """Image passes per epoch: 3 per triplet, plus re-embedding N_TRAIN*10 when mining (epochs >= 3)."""
    return 3 * TRIPLETS + embedded(run, epoch) if epoch > 0 else 0


def embedded(run: str, epoch: int) -> int:
    return REEMBEDDED if offline(run) and epoch >= 3 else 0


def epoch_rows(run: str, seed: int) -> pd.DataFrame:
    final, g = final_r1(run, seed), shape(run, seed)
    adaptive = "adaptive" in run or run.startswith("sweep-kappa0") or run.startswith("sweep-fraction")
    rows = []
    for e in range(0, EPOCHS + 1):
        mining = offline(run) and e >= 3
        val = final * g[e]
        row = {"epoch": e, "loss": 1.0 / (e + 1), "loss_triplet": 0.8 / (e + 1), "loss_global": 0.2 / (e + 1),
               "train_error": 0.9 - 0.1 * e + 0.01 * seed, "e_mined": 0.8 - 0.1 * e if mining else math.nan,
               "e_random": 0.3 - 0.03 * e, "kappa": (16.0 / (e + 1) if adaptive else 4.0) if offline(run) else math.nan,
               "kappa_lo": 1.0, "kappa_hi": 20.0, "d2p1_q50": 0.2, "mined_fraction": 0.5 if mining else 0.0,
               "n_triplets": TRIPLETS if e else 0, "n_steps": STEPS if e else 0, "image_passes": passes(run, e),
               "n_embedded": embedded(run, e), "compute_passes": passes(run, e) - (1 - REEMBED_COST) * embedded(run, e),
               "n_mined": 150 if mining else 0, "random_fallbacks": 15 if mining else 0,
               "random_zero_loss": ZERO_LOSS.get(e, 0.75), "lr": 0.001, "t_embed": 0.1 if mining else 0.0,
               "t_index": 0.01 if mining else 0.0, "t_mine": 0.02 if mining else 0.0, "t_train": 1.0, "t_eval": T_EVAL,
               "t_epoch": (1.5 if mining else 1.3) + T_EVAL if e else T_EVAL, "index": "flat" if mining else "",
               "index_recall": 1.0 if mining else math.nan}
        for k in (1, 2, 4, 8):
            row[f"val_recall@{k}"] = val + 0.05 * (k.bit_length() - 1)
        row["val_nmi"] = val + 0.02
        last = e == EPOCHS
        for m in METRICS:
            row[m] = test_metric(final, m) if last else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def test_metric(r1: float, metric: str) -> float:
    extra = {"recall@1": 0, "recall@2": 0.05, "recall@4": 0.1, "recall@8": 0.15, "nmi": 0.02, "map@r": -0.2,
             "r_precision": -0.1}
    return r1 + extra[metric]


def write_run(folder: Path, run: str, seed: int, rng: np.random.Generator, columns: list[str] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    df = epoch_rows(run, seed)
    if columns is not None:
        df = df[df["epoch"] > 0][columns]
    df.to_csv(folder / "epochs.csv", index=False)
    (folder / "metrics.json").write_text(json.dumps({m: test_metric(final_r1(run, seed), m) for m in METRICS}))
    np.save(folder / "test_embeddings.npy", rng.normal(size=(N_TEST, 8)).astype(np.float32))
    np.save(folder / "test_labels.npy", np.repeat(np.arange(N_CLASSES), N_TEST // N_CLASSES))
    paths = [f"train/{i // 3}/{i}.png" for i in range(N_TRAIN)]
    epochs = [{"epoch": e, "mined": [[0, 1, 3], [3, 4, 6]], "random": [[0, 2, 9], [3, 5, 11]]} for e in range(3, EPOCHS + 1)]
    (folder / "samples.json").write_text(json.dumps({"train_paths": paths, "epochs": epochs if offline(run) else []}))
    if "adaptive" in run and columns is None:
        history = [{"epoch": e, "error": 0.5, "kappa": 4.0, "kappa_next": 4.0, "rule": "fit", "alpha": -1.0, "beta": 4.5}
                   for e in range(3, EPOCHS + 1)]
        for h in history:
            h.update(unreachable=False, reason=None, clamp=None)
        if seed == 1:
            history[2].update(rule="unreachable", unreachable=True, reason="error above target at kappa_hi")
        (folder / "controller.json").write_text(json.dumps({"target_error": 0.5, "kappa": 4.0, "history": history}))


def make_cfg(datasets: list[str], methods: list[str], seeds: list[int], sweeps: bool = True) -> dict:
    def spec(method: str, values: list[float]) -> dict:
        return {"method": method, "values": values if sweeps else [], "seeds": [0]}
    return {
        "profile": "synthetic", "description": "synthetic logs", "datasets": datasets, "methods": methods,
        "seeds": seeds, "controller": {"target_error": 0.5, "tolerance": 0.03},
        "sweeps": {"kappa": spec("smart+global", [1, 4]), "mined_fraction": spec("smart+global+adaptive", [0.2, 0.6]),
                   "kappa0": spec("smart+global+adaptive", [1, 16])},
    }


SELECTION = {"metric": "val_recall@1", "seeds": [100], "runs_per_method": 2, "methods": {
    "smart+global": {"chosen": {"train.lr": 0.001, "mining.kappa": 4.0}, "chosen_run": "tune1-smart+global", "n_runs": 2,
                     "tried": [{"run": "tune0-smart+global", "values": {"train.lr": 0.0005, "mining.kappa": 1.0}, "score": 0.61},
                               {"run": "tune1-smart+global", "values": {"train.lr": 0.001, "mining.kappa": 4.0}, "score": 0.64}]},
    "smart+global+adaptive": {"chosen": {"train.lr": 0.001, "train.mined_fraction": 0.6}, "n_runs": 2,
                              "chosen_run": "tune1-smart+global+adaptive",
                              "tried": [{"run": "tune0-smart+global+adaptive", "score": 0.58,
                                         "values": {"train.lr": 0.001, "train.mined_fraction": 0.2}},
                                        {"run": "tune1-smart+global+adaptive", "score": 0.63,
                                         "values": {"train.lr": 0.001, "train.mined_fraction": 0.6}}]}}}


def write_logs(tmp: Path, cfg: dict, columns: list[str] | None = None, extras: bool = True) -> tuple[Path, Path, Path]:
    """Every expected run's logs; with ``extras`` also selection/<dataset>.json and the two baselines; ``columns``
    restricts epochs.csv to those (and drops epoch 0 and controller.json), as older logs had."""
    runs_dir, out_dir, data_root = tmp / "runs", tmp / "results", tmp / "data"
    rng = np.random.default_rng(0)
    for run in expected_runs(cfg):
        write_run(runs_dir / run.folder, run.name, run.seed, rng, columns)
    out_dir.mkdir(parents=True, exist_ok=True)
    for dataset in cfg["datasets"]:
        for i in range(N_TRAIN):
            path = data_root / dataset / f"train/{i // 3}/{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), 20 * i, dtype=np.uint8)).save(path)
        (out_dir / "untrained" / dataset).mkdir(parents=True, exist_ok=True)
        (out_dir / "untrained" / dataset / "metrics.json").write_text(json.dumps({m: 0.1 for m in METRICS}))
        if extras:
            (out_dir / "pretrained" / dataset).mkdir(parents=True, exist_ok=True)
            (out_dir / "pretrained" / dataset / "metrics.json").write_text(json.dumps({m: 0.3 for m in METRICS}))
        if extras:  # the pipeline's select stage writes one file per dataset
            (out_dir / "selection").mkdir(exist_ok=True)
            (out_dir / "selection" / f"{dataset}.json").write_text(json.dumps(SELECTION))
    return runs_dir, out_dir, data_root
