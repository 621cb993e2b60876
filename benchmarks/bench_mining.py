"""Smart mining (index + k-NN lists + Algorithm 1) against exhaustive hard mining, as N grows.

    PYTHONPATH=src python benchmarks/bench_mining.py [--quick] [--k 200] [--json out.json]

Data: N unit vectors in d = 64 with N/40 classes. Trained embeddings cluster by class on a
low-dimensional manifold, so the classes are Gaussian blobs in a 16-d latent space, mapped into
64-d by a random orthonormal basis with a little isotropic noise, then L2-normalised. (Uniform random
vectors, with no neighbour structure at all, are the worst case for approximate indexes.)

Each cell is the median of several runs where one run takes under --repeat-below seconds, else one
run. A cell whose predicted time (from the previous size, at the method's expected growth) exceeds
--budget is not run: it is extrapolated and marked "~". Each cell runs in its own Python process;
peak memory is the growth of that process's resident set during the mining call, sampled every 5 ms
(it sees FAISS's and torch's native allocations).
Growth exponents are log-log slopes between the smallest and largest size at or above 20k (the
two sizes in --quick), and least-squares fits over all measured sizes.

Methods: hard, smart-flat, smart-hnsw, smart-ivf, smart-auto (exact below AUTO_EXACT_BELOW points, IVF
with exact positives above; "+warm": timed after an untimed first call, so IVF's centroids are reused as
in the trainer's later epochs). "METHOD@F" queries only round(F * N) anchors (the trainer mines
round(mined_fraction * triplets_per_epoch) anchors an epoch, often half of N): the table says how
many anchors each row searched. Per cell: the index build (IVF: k-means on a sample, then adding the
points), the list search (incl. growth and the exact class-mates), the selection (Algorithm 1) and the
recall measurement on --recall-sample anchors against exact search, each in seconds; peak RSS of the
whole process (ru_maxrss, data included); index_recall (list of k), p1_recall and n1_recall.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from smartmining.atomic import write_json
from smartmining.mining import HardMiner, SmartMiner, valid_anchors

EXPECTED_EXPONENT = {"hard": 2.0, "smart-flat": 2.0, "smart-hnsw": 1.3, "smart-ivf": 1.2, "smart-auto": 1.2}


def clustered_embeddings(n: int, seed: int, d: int = 64, latent: int = 16, spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_classes = max(2, n // 40)
    centres = rng.standard_normal((n_classes, latent))
    labels = rng.integers(0, n_classes, n)
    basis, _ = np.linalg.qr(rng.standard_normal((d, latent)))
    x = (centres[labels] + spread * rng.standard_normal((n, latent))) @ basis.T + 0.05 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(call: Callable[[], object]) -> tuple[float, float]:
    """(seconds, peak resident-set growth in MiB) of one call."""
    base = peak = _rss_bytes()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    call()
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    return seconds, (max(peak, _rss_bytes()) - base) / 2**20


def split_method(method: str) -> tuple[str, float]:
    """"smart-auto@0.5" -> ("smart-auto", 0.5): the miner and the share of the N anchors it queries."""
    name, _, share = method.partition("@")
    return name, float(share or 1.0)


def make_miner(method: str, args: argparse.Namespace):
    if method == "hard":
        return HardMiner(chunk_size=1024)
    kind = method.split("-", 1)[1].removesuffix("+warm")
    return SmartMiner(kappa=args.kappa, k=args.k, index=kind, recall_sample=args.recall_sample)


def measure_cell(method: str, n: int, args: argparse.Namespace) -> dict:
    name, share = split_method(method)
    load = os.getloadavg()[0]
    x, labels = clustered_embeddings(n, seed=args.seed)
    anchors = valid_anchors(labels)
    anchors = anchors[np.random.default_rng(args.seed).permutation(len(anchors))[: round(share * n)]]
    miner = make_miner(name, args)
    times, peaks, phases = [], [], {key: [] for key in PHASES}
    warm, cold = name.endswith("+warm"), {}
    if warm:  # the trainer's later epochs: IVF centroids trained by an earlier call are reused
        miner = make_miner(name, args)
        cold_seconds, _ = measure(lambda: miner.mine(x, labels, anchors, np.random.default_rng(args.seed + 1)))
        cold = {"cold_seconds": cold_seconds, "cold_t_build": miner.stats.get("t_build", float("nan"))}
    while True:  # else a fresh miner each run: IVF's centroids are trained in every measured call
        miner = miner if warm else make_miner(name, args)
        seconds, peak = measure(lambda: miner.mine(x, labels, anchors, np.random.default_rng(args.seed)))
        times.append(seconds)
        peaks.append(peak)
        for key in PHASES:
            phases[key].append(miner.stats.get(key, float("nan")))
        if seconds > args.repeat_below or len(times) >= args.repeats:
            break
    stats = miner.stats
    return {
        "method": method,
        "N": n,
        "anchors": len(anchors),
        "index": stats.get("index", ""),
        "seconds": statistics.median(times),
        "runs": len(times),
        "peak_mib": max(peaks),
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": load,
        **{key: statistics.median(values) for key, values in phases.items()},
        **cold,
        "recall": stats.get("index_recall", float("nan")),
        "p1_recall": stats.get("p1_recall", float("nan")),
        "index_p1_recall": stats.get("index_p1_recall", float("nan")),
        "n1_recall": stats.get("n1_recall", float("nan")),
        "random_frac": stats.get("random_fallbacks", 0.0) / max(1, len(anchors)),
        "grown": stats.get("grown_anchors", 0.0),
        "extrapolated": False,
    }


PHASES = ("t_index", "t_build", "t_search", "t_recall", "t_select")
NAN_KEYS = ("peak_mib", "rss_peak_mib", "load", *PHASES, "recall", "p1_recall", "index_p1_recall", "n1_recall",
            "random_frac", "grown")


def run_cell(method: str, n: int, args: argparse.Namespace) -> dict:
    """``measure_cell`` in a fresh interpreter, so memory freed by earlier cells cannot hide a peak."""
    options = ["--k", str(args.k), "--kappa", str(args.kappa), "--recall-sample", str(args.recall_sample),
               "--repeats", str(args.repeats), "--repeat-below", str(args.repeat_below), "--seed", str(args.seed)]
    done = subprocess.run([sys.executable, __file__, "--child", method, str(n), *options],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"cell {method} N={n} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def slope(rows: list[dict], lo: int, hi: int) -> tuple[float, bool]:
    by_n = {r["N"]: r for r in rows}
    a, b = by_n[lo], by_n[hi]
    return math.log(b["seconds"] / a["seconds"]) / math.log(hi / lo), a["extrapolated"] or b["extrapolated"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 2k, 5k only")
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=None)
    parser.add_argument("--methods", default="hard,smart-flat,smart-auto,smart-auto@0.5",
                        help="comma list of hard, smart-{flat,hnsw,ivf,auto}, each optionally @share of anchors")
    parser.add_argument("--k", type=int, default=200, help="neighbour list length (default 200)")
    parser.add_argument("--kappa", type=float, default=4.0)
    parser.add_argument("--recall-sample", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat-below", type=float, default=10.0, help="repeat only runs shorter than this (s)")
    parser.add_argument("--budget", type=float, default=120.0, help="skip and extrapolate cells predicted longer (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--add-to", default=None, help="an earlier --json output whose rows this run completes")
    parser.add_argument("--plot", default=None, help="also draw time against N on log-log axes here (.png)")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_cell(args.child[0], int(args.child[1]), args)))
        return
    sizes = args.sizes or ([2_000, 5_000] if args.quick else [20_000, 100_000, 200_000, 500_000, 1_000_000])
    methods = args.methods.split(",")
    print(f"# bench_mining: d=64, N/40 classes, k={args.k}, kappa={args.kappa}, cpus={os.cpu_count()}, "
          f"load average at start {os.getloadavg()[0]:.1f}", flush=True)

    rows: list[dict] = []
    for method in methods:
        previous = None
        for n in sizes:
            if previous is not None:
                predicted = previous["seconds"] * (n / previous["N"]) ** EXPECTED_EXPONENT[split_method(method)[0].removesuffix("+warm")]
                if predicted > args.budget:
                    row = {**previous, "N": n, "seconds": predicted, "runs": 0, "extrapolated": True,
                           "anchors": round(split_method(method)[1] * n)}
                    row.update(dict.fromkeys(NAN_KEYS, float("nan")))
                    rows.append(row)
                    previous = row
                    continue
            previous = run_cell(method, n, args)
            rows.append(previous)
            print(f"  {method:11s} N={n:>7,d} {previous['seconds']:8.2f} s", file=sys.stderr, flush=True)

    if args.add_to:  # complete an earlier run's table: this run's cells replace its cells of the same (method, N)
        earlier = json.loads(Path(args.add_to).read_text())["rows"]
        done = {(r["method"], r["N"]) for r in rows}
        methods = list(dict.fromkeys([r["method"] for r in earlier] + methods))
        rows = sorted([r for r in earlier if (r["method"], r["N"]) not in done] + rows,
                      key=lambda r: (methods.index(r["method"]), r["N"]))
        sizes = sorted({r["N"] for r in rows})
    if args.json:
        write_json(args.json, {"args": vars(args), "rows": rows, "load_average_end": list(os.getloadavg())})
    header = (f"{'method':15s} {'N':>9s} {'anchors':>9s} {'time s':>9s} {'runs':>4s} {'build':>6s} {'search':>7s} "
              f"{'select':>6s} {'recall':>6s} {'list':>5s} {'p1':>5s} {'n1':>5s} {'RSS MiB':>8s} {'load':>4s}")
    print(header)
    for r in rows:
        mark = "~" if r["extrapolated"] else " "
        print(f"{r['method']:15s} {r['N']:>9,d} {r['anchors']:>9,d} {mark}{r['seconds']:8.2f} {r['runs']:>4d} "
              f"{r['t_build']:6.2f} {r['t_search']:7.2f} {r['t_select']:6.2f} {r['t_recall']:6.2f} {r['recall']:5.3f} "
              f"{r['p1_recall']:5.3f} {r['n1_recall']:5.3f} {r['rss_peak_mib']:8.0f} {r['load']:4.1f}")
    if len(sizes) >= 2:
        big = [n for n in sizes if n >= 20_000] or sizes
        lo, hi = (sizes[-2], sizes[-1]) if len(big) < 2 else (big[0], big[-1])
        print(f"\ngrowth exponent (log-log slope of time, N = {lo:,} -> {hi:,}; ~ = uses extrapolated cells):")
        for method in methods:
            mine = [r for r in rows if r["method"] == method]
            if not {lo, hi} <= {r["N"] for r in mine}:
                continue
            value, approx = slope(mine, lo, hi)
            fitted = fitted_exponent([r for r in rows if r["method"] == method])
            print(f"  {method:15s} {'~' if approx else ' '}{value:.2f}   (least squares over measured sizes: {fitted:.2f})")
        by = {(r["method"], r["N"]): r for r in rows}
        for n in sizes:
            if ("hard", n) in by and ("smart-hnsw", n) in by:
                ratio = by["hard", n]["seconds"] / by["smart-hnsw", n]["seconds"]
                print(f"  N = {n:>7,d}: exhaustive hard / smart-hnsw = {ratio:.1f}x")
    if args.plot:
        plot_growth(rows, methods, args.plot)


def fitted_exponent(rows: list[dict]) -> float:
    """Least-squares slope of log time against log N over the measured (not extrapolated) cells."""
    measured = [r for r in rows if not r["extrapolated"] and r["seconds"] > 0]
    if len(measured) < 2:
        return float("nan")
    x = np.log([r["N"] for r in measured])
    y = np.log([r["seconds"] for r in measured])
    return float(np.polyfit(x, y, 1)[0])


def plot_growth(rows: list[dict], methods: list[str], path: str) -> None:
    """Time against N, log-log, one line per method, the fitted exponent in the legend; hollow = extrapolated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from smartmining.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    for method in methods:
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["N"])
        line, = ax.plot([r["N"] for r in mine], [r["seconds"] for r in mine], "-",
                        label=f"{method} (N^{fitted_exponent(mine):.2f})")
        for r in mine:
            ax.plot(r["N"], r["seconds"], "o", color=line.get_color(),
                    markerfacecolor="none" if r["extrapolated"] else line.get_color())
    ax.set(xscale="log", yscale="log", xlabel="N (embeddings, d = 64)", ylabel="seconds per mining call",
           title="Smart mining against exhaustive hard mining")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="method (fitted growth)", fontsize=8)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
