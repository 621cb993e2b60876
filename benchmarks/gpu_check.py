"""GPU check: a few hundred training iterations of the paper profile's model and mining, on glyphs upscaled.

Runs the `paper` profile's network (GoogLeNet, 64-d head, 227 crops, bfloat16 autocast, HNSW index) with
the full method (smart + global + adaptive) on the embedded glyph dataset rendered at 64 px and resized to
256, so it needs no download. Prints images per second of training and the share of each phase of an
epoch; the paper claims triplet selection takes under 1% of an epoch on a GPU. Meant to finish in under
5 minutes on one GPU:

    python benchmarks/gpu_check.py                 # on the GPU (device auto)
    python benchmarks/gpu_check.py --device cpu --iterations 4 --classes 20   # a quick look on a CPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartmining.config import apply_overrides, load_params  # noqa: E402
from smartmining.runs import resolve  # noqa: E402
from smartmining.training.job import train  # noqa: E402

PHASES = ("t_embed", "t_index", "t_mine", "t_train", "t_eval")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--iterations", type=int, default=100, help="training iterations per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="epochs (the first is random-only warm-up)")
    ap.add_argument("--classes", type=int, default=200, help="glyph classes (half train, half test)")
    ap.add_argument("--batch", type=int, default=64, help="triplets per batch")
    ap.add_argument("--out", type=Path, default=None, help="keep the run folder here")
    args = ap.parse_args()

    profile = load_params(ROOT / "params.yaml", "paper")
    profile = apply_overrides(profile, [
        f"train.device={args.device}", f"train.epochs={args.epochs}", "train.warmup_epochs=1",
        f"train.batch_triplets={args.batch}", f"train.triplets_per_epoch={args.iterations * args.batch}",
        f"mining.k={min(200, args.classes * 20 - 1)}",
        "model.pretrained=false",  # no download on a closed machine; speed does not depend on the weights
        "data.glyphs={seed: 0, n_classes: %d, images_per_class: 40, image_size: 64, val_classes: 0}" % args.classes,
        "datasets=[glyphs]",
    ])
    from smartmining.data.registry import prepare_dataset

    prepare_dataset("glyphs", (args.out or Path(tempfile.gettempdir())) / "gpu-check-glyphs", **profile["data"]["glyphs"])
    work = args.out or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    started = time.perf_counter()
    run = resolve(profile, "glyphs", "smart+global+adaptive", {"mined_fraction": {"chosen": profile["train"]["mined_fraction"]}})
    train(run, 0, work / "run", (args.out or Path(tempfile.gettempdir())) / "gpu-check-glyphs", progress=True)
    wall = time.perf_counter() - started
    epochs = pd.read_csv(work / "run" / "epochs.csv")
    cfg = run.key

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    print(f"\ndevice: {device}; torch {torch.__version__}; wall {wall:.1f} s for {args.epochs} epochs")
    print(f"model {cfg['model']['backbone']}, input {cfg['transform']['size']}px, amp {cfg['train']['amp']}, "
          f"index {epochs['index'].dropna().iloc[-1] if epochs['index'].notna().any() else '-'}")
    rows = []
    for _, e in epochs.iterrows():
        rows.append({
            "epoch": int(e["epoch"]),
            "triplets": int(e["n_triplets"]),
            "train img/s": e["n_images"] / e["t_train"],
            **{p: e[p] for p in PHASES},
            "mining share %": 100 * (e["t_index"] + e["t_mine"]) / e["t_epoch"],
            "mining+re-embed share %": 100 * (e["t_index"] + e["t_mine"] + e["t_embed"]) / e["t_epoch"],
            "recall@1": e["recall@1"],
        })
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    mined = table[table["epoch"] > 1]
    summary = {
        "device": device,
        "median_train_images_per_s": float(table["train img/s"].median()),
        "median_mining_share_percent": float(mined["mining share %"].median()) if len(mined) else None,
        "median_mining_plus_reembed_share_percent": float(mined["mining+re-embed share %"].median()) if len(mined) else None,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
