"""Training throughput and where an epoch's time goes, per method, on the `cpu` profile.

    python benchmarks/bench_training.py [--quick] [--epochs 4] [--json out.json]

Renders the profile's glyphs once in a temporary folder, trains every method of the profile's matrix
(seed 0) for --epochs epochs with smartmining.training.loop.train, and reads each run's epochs.csv.
Figures are medians over the epochs after the warm-up (train.warmup_epochs), where the miners run:
training images per second (n_images / t_train), the share of each phase in the epoch, and the
mining share (t_index + t_mine) / t_epoch, which the project wants under 5% for smart mining here.
--quick: 2 epochs (warm-up 1), methods random and smart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from common import machine, markdown_table

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("t_embed", "t_index", "t_mine", "t_train", "t_eval")
QUICK_METHODS = ("random", "smart")
MINING_SHARE_TARGET = 0.05


def phase_summary(epochs: pd.DataFrame, warmup_epochs: int) -> dict[str, Any]:
    """Medians over the epochs after the warm-up of one run's epochs.csv."""
    after = epochs[epochs["epoch"] > warmup_epochs]
    if after.empty:
        raise SystemExit(f"no epoch after the warm-up ({warmup_epochs}) in epochs.csv: train more epochs")
    t_epoch = after["t_epoch"]
    other = t_epoch - after[list(PHASES)].sum(axis=1)
    row: dict[str, Any] = {
        "epochs": [int(e) for e in after["epoch"]],
        "t_epoch_s": float(t_epoch.median()),
        "train_images_per_s": float((after["image_passes"] / after["t_train"]).median()),
        "epoch_images_per_s": float((after["image_passes"] / t_epoch).median()),
        "image_passes": float(after["image_passes"].median()),
        "mining_share": float(((after["t_index"] + after["t_mine"]) / t_epoch).median()),
        "mining_reembed_share": float(((after["t_index"] + after["t_mine"] + after["t_embed"]) / t_epoch).median()),
        "share_other": float((other / t_epoch).median()),
        "recall@1": float(epochs["recall@1"].iloc[-1]),
    }
    for phase in PHASES:
        row[f"share_{phase[2:]}"] = float((after[phase] / t_epoch).median())
    return row


def run(methods: list[str], epochs: int, warmup: int, work: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from smartmining.config import load_params
    from smartmining.data.registry import prepare_dataset
    from smartmining.training.job import train_named

    # from scratch: the pretrain stage is measured by the pipeline benchmark; the phases of an epoch do not
    # depend on the initial weights
    profile = load_params(ROOT / "params.yaml", "cpu", [f"train.epochs={epochs}", f"train.warmup_epochs={warmup}",
                                                        "model.init=scratch"])
    data_dir = work / "glyphs"
    start = time.perf_counter()
    prepare_dataset("glyphs", data_dir, **profile["data"]["glyphs"])
    setup = {"profile": "cpu", "epochs": epochs, "warmup_epochs": warmup, "render_s": time.perf_counter() - start,
             "threads": profile["train"]["threads"], "glyphs": profile["data"]["glyphs"],
             "triplets_per_epoch": profile["train"]["triplets_per_epoch"]}
    rows = []
    for method in methods:
        start = time.perf_counter()
        train_named(profile, "glyphs", method, 0, work / method, data_dir, progress=False,
                    selection={"kappa": {"chosen": profile["mining"]["kappa"]},
                               "mined_fraction": {"chosen": profile["train"]["mined_fraction"]}})
        wall = time.perf_counter() - start
        row = {"method": method, "wall_s": wall, **phase_summary(pd.read_csv(work / method / "epochs.csv"), warmup)}
        rows.append(row)
        print(f"  {method:24s} {wall:6.1f} s, mining share {100 * row['mining_share']:.1f}%", file=sys.stderr, flush=True)
    return rows, setup


COLUMNS = [
    ("method", "method", "s"), ("t_epoch_s", "epoch s", ".2f"), ("train_images_per_s", "train img/s", ".0f"),
    ("epoch_images_per_s", "epoch img/s", ".0f"), ("share_embed_pct", "embed %", ".1f"),
    ("share_index_pct", "index %", ".1f"), ("share_mine_pct", "mine %", ".1f"), ("share_train_pct", "train %", ".1f"),
    ("share_eval_pct", "eval %", ".1f"), ("share_other_pct", "other %", ".1f"),
    ("mining_share_pct", "mining (index+mine) %", ".2f"), ("mining_reembed_share_pct", "mining+re-embed %", ".1f"),
    ("recall@1", "R@1 last epoch", ".3f"),
]


def table(rows: list[dict[str, Any]]) -> str:
    shown = [{**r, **{f"{k}_pct": 100 * v for k, v in r.items() if k.startswith(("share", "mining"))}} for r in rows]
    return markdown_table(shown, COLUMNS)


def verdict(rows: list[dict[str, Any]]) -> str:
    smart = [r for r in rows if r["method"].startswith("smart")]
    if not smart:
        return "no smart-mining method was run"
    return "; ".join(
        f"{r['method']}: mining share {100 * r['mining_share']:.2f}% "
        f"({'under' if r['mining_share'] < MINING_SHARE_TARGET else 'NOT under'} {100 * MINING_SHARE_TARGET:.0f}%)"
        for r in smart
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs (warm-up 1), methods random and smart")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--methods", default=None, help="comma list (default: the cpu profile's matrix)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from smartmining.config import load_params

    profile = load_params(ROOT / "params.yaml", "cpu")
    epochs, warmup = (2, 1) if args.quick else (args.epochs, int(profile["train"]["warmup_epochs"]))
    if epochs <= warmup:
        raise SystemExit(f"--epochs must exceed the warm-up ({warmup}) so that the miners run")
    methods = args.methods.split(",") if args.methods else list(QUICK_METHODS if args.quick else profile["methods"])

    info = machine()
    print(f"# bench_training: cpu profile, {epochs} epochs (warm-up {warmup}), {info['cpus']} cpus "
          f"({info['cpu_model']}), load average at start {info['load_average'][0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        rows, setup = run(methods, epochs, warmup, Path(tmp))
    print(f"glyphs {setup['glyphs']} rendered in {setup['render_s']:.1f} s; torch threads {setup['threads']}; "
          f"{setup['triplets_per_epoch']} triplets an epoch; medians over epochs {warmup + 1}-{epochs}")
    print(table(rows))
    print(f"\nTarget (smart mining under {100 * MINING_SHARE_TARGET:.0f}% of an epoch): {verdict(rows)}")
    if args.json:
        from smartmining.atomic import write_json

        write_json(args.json, {"machine": info, "setup": setup, "rows": rows, "verdict": verdict(rows)})


if __name__ == "__main__":
    main()
