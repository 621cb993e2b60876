"""Validation R@1 of methods at fixed learning rates over seeds: the measurement behind the cpu profile's
`tuning.lr` grid (docs/deviations.md, "Calibrating the fine-tuning learning rate").

    python benchmarks/calibrate_lr.py --method random --lr 5e-4 2.5e-4 1e-4 --seeds 0 1 2 3 4
    python benchmarks/calibrate_lr.py --method semihard --lr 2.5e-4 1e-4 --jobs 2 --json out.json

Run in a checkout where the pipeline has prepared the data and pretrained the backbone
(`snakemake --cores 2 --config profile=cpu -- runs/cpu/glyphs/_pretrain/backbone.pt`). Each (lr, seed)
trains the method's final run with `smartmining train --selection`, from a selection file that fixes the
learning rate (the other tuned values as given by --chosen); it reads the final epoch's validation R@1,
never a test metric, since a grid chosen on test classes would leak them into the choice.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from smartmining.atomic import write_json


def train(method: str, lr: float, seed: int, chosen: dict[str, float], args: argparse.Namespace, work: Path) -> float:
    """One run's final validation R@1 (%), trained with the learning rate fixed by a selection file."""
    folder = work / f"lr{lr:g}" / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    selection = folder / "selection.json"
    selection.write_text(json.dumps({"methods": {method: {"chosen": {**chosen, "train.lr": lr}}}}))
    subprocess.run(["smartmining", "train", "--config", args.config, "--profile", args.profile,
                    "--dataset", args.dataset, "--method", method, "--seed", str(seed), "--out", str(folder / "run"),
                    "--selection", str(selection), "--threads", "1", "--quiet", "--restart"],
                   check=True, capture_output=True, text=True)
    return 100.0 * float(pd.read_csv(folder / "run" / "epochs.csv")["val_recall@1"].iloc[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--lr", type=float, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--chosen", type=json.loads, default={},
                        help="the method's other tuned values, e.g. '{\"train.mined_fraction\": 0.5}'")
    parser.add_argument("--config", default="params.yaml")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--dataset", default="glyphs")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument("--json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        grid = [(lr, s) for lr in args.lr for s in args.seeds]
        scores = list(pool.map(lambda p: train(args.method, p[0], p[1], args.chosen, args, Path(tmp)), grid))
    per_lr = {lr: [v for (l, _), v in zip(grid, scores) if l == lr] for lr in args.lr}
    print(f"# {args.method}: final-epoch validation R@1 (%) over seeds {args.seeds}")
    for lr, values in per_lr.items():
        print(f"lr {lr:g}: mean {statistics.mean(values):.1f}  per seed {[round(v, 1) for v in values]}")
    if args.json:
        write_json(args.json, {"method": args.method, "seeds": args.seeds, "chosen": args.chosen,
                               "val_recall@1": {f"{lr:g}": v for lr, v in per_lr.items()}})


if __name__ == "__main__":
    main()
