"""Time and peak memory of smartmining.evaluation.evaluate on synthetic embeddings.

Each configuration runs in its own subprocess (so peak RSS, read from /proc/self/status VmHWM, is
that of one evaluation process alone; torch is never imported there). Prints a table:
median wall time of 3 evaluate() calls, and peak RSS of the whole process.

    python benchmarks/bench_evaluation.py            # N=10k (d=64, 512) and N=60k (d=64)
    python benchmarks/bench_evaluation.py --json out.json   # also write the rows
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import machine, status_kib

CONFIGS = [(10_000, 64, 300), (10_000, 512, 300), (60_000, 64, 300)]  # (N, d, classes)
REPEATS = 3


def _child(n: int, d: int, n_classes: int, seed: int) -> None:
    import numpy as np

    from smartmining.evaluation import evaluate

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    centres = rng.standard_normal((n_classes, d), dtype=np.float32)
    x = centres[labels] + 1.5 * rng.standard_normal((n, d), dtype=np.float32)
    rss_before_kib = status_kib("VmRSS")
    times, result = [], {}
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = evaluate(x, labels, seed=seed)
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "seconds": times,
                "rss_before_mib": rss_before_kib / 1024,
                "peak_rss_mib": status_kib("VmHWM") / 1024,
                "r_max": int(np.bincount(labels).max() - 1),
                "torch_imported": "torch" in sys.modules,
                "result": result,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--child", nargs=4, type=int, metavar=("N", "D", "CLASSES", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    info = machine()
    print(f"evaluate(): median of {REPEATS} runs, one process per row; peak RSS = VmHWM of that process; "
          f"{info['cpus']} cpus, load average at start {info['load_average'][0]:.1f}")
    header = f"{'N':>7} {'d':>4} {'classes':>7} {'knn k':>6} {'median s':>9} {'min s':>7} {'max s':>7} "
    header += f"{'RSS before MiB':>14} {'peak RSS MiB':>12} {'torch':>5}  R@1     NMI     MAP@R"
    print(header)
    rows = []
    for n, d, n_classes in CONFIGS:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), str(d), str(n_classes), "0"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        s, res = row["seconds"], row["result"]
        rows.append({"N": n, "d": d, "classes": n_classes, "knn_k": max(8, row["r_max"]),
                     "median_s": statistics.median(s), **row})
        print(
            f"{n:>7} {d:>4} {n_classes:>7} {max(8, row['r_max']):>6} {statistics.median(s):>9.2f} "
            f"{min(s):>7.2f} {max(s):>7.2f} {row['rss_before_mib']:>14.0f} {row['peak_rss_mib']:>12.0f} "
            f"{str(row['torch_imported']):>5}  {res['recall@1']:.4f}  {res['nmi']:.4f}  {res['map@r']:.4f}",
            flush=True,
        )
    if args.json:
        from smartmining.atomic import write_json

        write_json(args.json, {"machine": info, "repeats": REPEATS, "rows": rows})


if __name__ == "__main__":
    main()
