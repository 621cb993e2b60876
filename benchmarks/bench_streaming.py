"""The streaming data path against the in-memory one: peak resident memory and images per second.

    PYTHONPATH=src python benchmarks/bench_streaming.py [--n 120053] [--size 32] [--json out.json]

A synthetic set of ``--n`` PNG files (SOP's 120,053 by default) at ``--size`` px, RGB, in one split.
Each path runs in its own process: the in-memory path (``load_images_checked``: the split as one uint8
tensor) and the streaming path (``data.stream.disk_split``: decoded once into a raw uint8 file, then
read per batch with pread; timed again once the file exists). Then both read 300 random batches of
192 images (a 64-triplet step's distinct images). Peak memory is VmHWM of the process, and its growth
over the process after its imports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

BATCHES, BATCH = 300, 192


def make_set(root: Path, n: int, size: int) -> None:
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rel = f"img/{i // 1000:03d}/{i}.png"
        if i % 1000 == 0:
            (root / rel).parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / rel, compress_level=1)
        paths.append(rel)
    pd.DataFrame({"path": paths, "label": np.arange(n) // 5, "split": "train"}).to_csv(root / "manifest.csv", index=False)


def child(root: Path, mode: str, size: int) -> dict:
    import pandas as pd
    import torch
    from common import status_kib

    from smartmining.data.images import load_images_checked
    from smartmining.data.stream import disk_split

    manifest = pd.read_csv(root / "manifest.csv")
    base = status_kib("VmRSS")
    t0 = time.perf_counter()
    load = load_images_checked if mode == "memory" else disk_split
    split = load(manifest, root, "train", size=size, channels=3)
    t_load = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(BATCHES):
        batch = split.images[torch.as_tensor(rng.choice(len(split.labels), BATCH, replace=False))]
        batch.float().mean()  # touch it
    t_read = time.perf_counter() - t0
    return {"mode": mode, "load_s": t_load, "images_per_s_load": len(split.labels) / t_load,
            "batch_images_per_s": BATCHES * BATCH / t_read, "peak_rss_mib": status_kib("VmHWM") / 1024,
            "peak_growth_mib": (status_kib("VmHWM") - base) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120_053)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--root", type=Path, default=None, help="keep the synthetic set here")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", nargs=2, metavar=("ROOT", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], args.size)))
        return
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-stream-"))
    if not (root / "manifest.csv").exists():
        t0 = time.perf_counter()
        make_set(root, args.n, args.size)
        print(f"{args.n} PNGs at {args.size} px written in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for mode in ("memory", "stream", "stream"):  # the second stream run reuses the file the first built
        out = subprocess.run([sys.executable, __file__, "--size", str(args.size), "--child", str(root), mode],
                             check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["mode"] += " (file built)" if mode == "stream" and not any(r["mode"].startswith("stream") for r in rows) else ""
        row["mode"] += " (file reused)" if mode == "stream" and row["mode"] == "stream" else ""
        rows.append(row)
        print(f"{row['mode']:22s} load {row['load_s']:6.1f} s  peak RSS {row['peak_rss_mib']:7.0f} MiB "
              f"(+{row['peak_growth_mib']:.0f})  random batches {row['batch_images_per_s']:9.0f} img/s", flush=True)
    in_memory_mib = args.n * 3 * args.size**2 / 2**20
    print(f"the split at {args.size} px: {in_memory_mib:.0f} MiB as uint8")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "size": args.size, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
