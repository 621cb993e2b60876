"""The miners on a synthetic set shaped like SOP's training split: do classes of 2-12 images cause fallback storms?

    PYTHONPATH=src python benchmarks/bench_sop_shape.py [--scale 1.0] [--kappa 1 4 16] [--json out.json]

SOP trains on 59,551 images in 11,318 classes (5.3 images a class, 2 to 12). The set here has the same
number of points and classes, class sizes drawn from a geometric law on 2..12 rescaled to that total,
and 64-d unit embeddings: class centres in a 16-d latent space mapped into 64-d, plus noise. Two
embedding qualities: "early" (noise 1.2: neighbours of an anchor are mostly other classes, as before
training) and "trained" (noise 0.5). Printed per miner: the share of the epoch's triplets that fell
back to random ones, the share of anchors whose list had no positive (k grown), and the seconds; and
smart mining at the largest kappa clamped into the data's kappa range (mining/kappa_scale.py), as the
adaptive methods' controller clamps it.
Smart mining runs the exact (flat) index with k = 200, as the `paper-sop` profile at this size would
with mining.index = flat; semi-hard runs the P x K batches of `paper-sop` (32 x 2) and of `paper` (16 x 4).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartmining.mining import SmartMiner, valid_anchors  # noqa: E402
from smartmining.mining.semihard import SemiHardMiner, pk_batches  # noqa: E402

N_TRAIN, N_CLASSES = 59_551, 11_318


def sop_shaped_labels(n: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n_classes`` classes of 2..12 images summing to ``n`` (a geometric law, trimmed to the total)."""
    sizes = np.clip(2 + rng.geometric(1 / (n / n_classes - 1.5), n_classes) - 1, 2, 12)
    while sizes.sum() != n:  # move one image at a time between classes until the total is SOP's
        i = rng.integers(n_classes)
        if sizes.sum() > n and sizes[i] > 2:
            sizes[i] -= 1
        elif sizes.sum() < n and sizes[i] < 12:
            sizes[i] += 1
    return rng.permutation(np.repeat(np.arange(n_classes), sizes))


def embeddings(labels: np.ndarray, noise: float, rng: np.random.Generator, d: int = 64, latent: int = 16) -> np.ndarray:
    centres = rng.standard_normal((labels.max() + 1, latent))
    basis, _ = np.linalg.qr(rng.standard_normal((d, latent)))
    x = (centres[labels] + noise * rng.standard_normal((len(labels), latent))) @ basis.T
    x += 0.05 * rng.standard_normal(x.shape)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def smart_row(emb: np.ndarray, labels: np.ndarray, kappa: float, k: int, in_range: bool = False) -> dict:
    """Fixed kappa; ``in_range``: clamped to the data's kappa range as the adaptive methods' controller is."""
    anchors = valid_anchors(labels)
    miner = SmartMiner(kappa=kappa, k=k, index="flat", recall_sample=500)
    miner.scale_share = 0.5  # controller.range_share, as mining/factory.py sets it
    if in_range:  # the controller's set_range: kappa clamped into the range measured on this epoch's lists
        miner.on_scale = lambda scale: float(np.clip(kappa, scale.kappa_lo, scale.kappa_hi))
    t0 = time.perf_counter()
    trip = miner.mine(emb, labels, anchors, np.random.default_rng(0))
    s = miner.stats
    name = f"smart kappa={kappa:g}" + (f" -> {miner.kappa:.2f} (range)" if in_range else "")
    return {"miner": name, "kappa_lo": s.get("kappa_lo"), "kappa_hi": s.get("kappa_hi"), "fallback_share": float(trip.is_random.mean()),
            "grown_share": s.get("grown_anchors", 0.0) / len(anchors), "max_k_used": s.get("max_k_used"),
            "seconds": time.perf_counter() - t0}


def semihard_row(emb: np.ndarray, labels: np.ndarray, P: int, K: int) -> dict:
    miner = SemiHardMiner(margin=0.2)
    x, y = torch.from_numpy(emb), torch.from_numpy(labels)
    t0 = time.perf_counter()
    total = fallback = 0.0
    for batch in pk_batches(labels, P, K, np.random.default_rng(0)):
        idx = torch.from_numpy(batch)
        a, _, _ = miner.mine(x[idx], y[idx])
        total += len(a)
        fallback += miner.stats["frac_fallback"] * len(a)
    return {"miner": f"semihard {P}x{K}", "kappa_lo": None, "kappa_hi": None, "fallback_share": fallback / max(total, 1), "grown_share": None,
            "max_k_used": None, "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="share of SOP's points and classes (0.1: a quick look)")
    ap.add_argument("--kappa", type=float, nargs="+", default=[1.0, 4.0, 16.0])
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    labels = sop_shaped_labels(int(N_TRAIN * args.scale), int(N_CLASSES * args.scale), rng)
    sizes = np.bincount(labels)
    print(f"{len(labels)} points, {len(sizes)} classes, sizes {sizes.min()}-{sizes.max()} (mean {sizes.mean():.2f}; "
          f"{(sizes == 2).mean():.0%} with 2 images)")
    rows = []
    for quality, noise in (("early", 1.2), ("trained", 0.5)):
        emb = embeddings(labels, noise, rng)
        for kappa in args.kappa:
            rows.append({"embedding": quality, **smart_row(emb, labels, kappa, args.k)})
        rows.append({"embedding": quality, **smart_row(emb, labels, max(args.kappa), args.k, in_range=True)})
        for P, K in ((32, 2), (16, 4)):
            rows.append({"embedding": quality, **semihard_row(emb, labels, P, K)})
        for r in rows[-len(args.kappa) - 3:]:
            grown = "-" if r["grown_share"] is None else f"{r['grown_share']:.3f}"
            print(f"{r['embedding']:8s} {r['miner']:32s} fallback share {r['fallback_share']:.4f}  "
                  f"lists grown {grown:>6s}  max k {r['max_k_used'] or '-'}  {r['seconds']:.1f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"points": len(labels), "classes": int(len(sizes)), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
