"""GPU check: a few hundred training iterations of the paper profile's model and mining, on glyphs upscaled.

Runs the `paper` profile's network (GoogLeNet, 64-d head, 227 crops, bfloat16 autocast, HNSW index) with
the full method (smart + global + adaptive) on the embedded glyph dataset rendered at 64 px and resized to
256, so it needs no download. Prints images per second of training and the share of each phase of an
epoch; the paper claims triplet selection takes under 1% of an epoch on a GPU. Then the refresh of the
k-NN lists (index + every point's k = 200 list, what an epoch's mining needs) at 60k, 200k and 1M
points of synthetic 64-d embeddings, two ways: FAISS (on the GPU where the installed FAISS sees one)
and a torch ``topk`` over blocks of queries on the device; the faster is the one to mine with there.
Meant to finish in under 5 minutes on one GPU:

    python benchmarks/gpu_check.py                 # on the GPU (device auto)
    python benchmarks/gpu_check.py --device cpu --iterations 4 --classes 20 --size 64 --refresh 2000 8000
                                                   # a quick look on a CPU

Unmeasured until a GPU runs it: every figure printed here for the GPU (none has been available).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartmining.config import apply_overrides, load_params  # noqa: E402
from smartmining.neighbours import build_index, search  # noqa: E402
from smartmining.runs import resolve  # noqa: E402
from smartmining.training.job import train  # noqa: E402

PHASES = ("t_embed", "t_index", "t_mine", "t_train", "t_eval")
K = 200


def synthetic(n: int, seed: int = 0, d: int = 64) -> np.ndarray:
    """Unit vectors in blobs (n / 40 classes in a 16-d latent space), as benchmarks/bench_mining.py."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(2, n // 40), 16)).astype(np.float32)
    basis, _ = np.linalg.qr(rng.standard_normal((d, 16)))
    x = (centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, 16), dtype=np.float32)) @ basis.T.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def refresh_faiss(x: np.ndarray, kind: str, params: dict) -> float:
    t0 = time.perf_counter()
    index = build_index(x, kind=kind, params=params)
    search(index, x, K + 1, np.arange(len(x)))
    return time.perf_counter() - t0


def refresh_torch(x: np.ndarray, device: torch.device, block: int = 4096) -> float:
    """Exact lists by blocks of queries: one matrix product and a topk per block, on ``device``."""
    t0 = time.perf_counter()
    ref = torch.from_numpy(x).to(device)
    sq = (ref * ref).sum(1)
    for lo in range(0, len(ref), block):
        q = ref[lo:lo + block]
        d = sq[lo:lo + block, None] + sq[None] - 2 * q @ ref.T
        d.topk(min(K + 1, len(ref)), dim=1, largest=False).indices.cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def refresh_table(sizes: list[int], device: torch.device, kind: str, params: dict) -> pd.DataFrame:
    rows = []
    for n in sizes:
        x = synthetic(n)
        row = {"points": n, f"faiss {kind} s": refresh_faiss(x, kind, params), "torch topk s": refresh_torch(x, device)}
        row["faster"] = "faiss" if row[f"faiss {kind} s"] < row["torch topk s"] else "torch"
        rows.append(row)
        print(row, flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--iterations", type=int, default=100, help="training iterations per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="epochs (the first is random-only warm-up)")
    ap.add_argument("--classes", type=int, default=200, help="glyph classes (half train, half test)")
    ap.add_argument("--batch", type=int, default=64, help="triplets per batch")
    ap.add_argument("--size", type=int, default=None, help="input size (crop; resize = size * 256/227) [default: the profile's 227]")
    ap.add_argument("--refresh", type=int, nargs="*", default=[60_000, 200_000, 1_000_000],
                    help="points of the k-NN refresh timings (none: skip)")
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
    ] + ([f"transform.size={args.size}", f"transform.resize={round(args.size * 256 / 227)}"] if args.size else []))
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
    for _, e in epochs[epochs["epoch"] > 0].iterrows():  # epoch 0: the network before training
        rows.append({
            "epoch": int(e["epoch"]),
            "triplets": int(e["n_triplets"]),
            "img passes/s": e["image_passes"] / (e["t_train"] + e["t_embed"]),
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
        "median_image_passes_per_s": float(table["img passes/s"].median()),
        "median_mining_share_percent": float(mined["mining share %"].median()) if len(mined) else None,
        "median_mining_plus_reembed_share_percent": float(mined["mining+re-embed share %"].median()) if len(mined) else None,
    }
    if args.refresh:
        dev = torch.device("cuda" if device != "cpu" else "cpu")
        kind = cfg["mining"]["index"]
        print(f"\nk-NN refresh (k = {K}, every point's list), FAISS {kind} vs torch topk over blocks on {dev}:")
        refresh = refresh_table(args.refresh, dev, kind, cfg["mining"].get("index_params") or {})
        print(refresh.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        summary["refresh_s"] = refresh.to_dict(orient="records")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
