"""Our evaluate() against pytorch-metric-learning's AccuracyCalculator on the same embeddings.

    python benchmarks/bench_vs_pml.py [--quick] [--json out.json]

Data: clustered synthetic embeddings (class centres + noise, L2-normalised). Both sides compute
Recall@1 (PML: precision_at_1), MAP@R, R-precision and NMI with an exact FAISS flat search and a
20-iteration FAISS k-means seeded 1234 (PML's default; ours is given seed=1234), each query excluded
from its own list (PML: reference = query, ref_includes_query=True; k="max_bin_count").

Values: each metric of ours beside PML's; NMI also on one shared clustering (our k-means labels fed to
PML's calculate_NMI), so a k-means difference could not hide an NMI difference.
Time: median of 5 calls of each (3 above N = 20,000), side by side in this process, alternating
which goes first.
Memory: each side once in a fresh subprocess; peak = VmHWM after the call, reset (clear_refs) after
the imports and the data; "delta" = peak minus the resident set just before the call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import clustered_embeddings, machine, markdown_table, reset_peak_rss, status_kib

# (N, d, classes, noise): noise per coordinate, chosen so that R@1 and MAP@R stay well inside (0, 1).
CONFIGS = [(10_000, 64, 500, 1.5), (10_000, 512, 500, 3.0), (60_000, 64, 1_000, 1.5)]
QUICK_CONFIGS = [(2_000, 64, 100, 1.5), (2_000, 512, 100, 3.0)]
KMEANS_SEED = 1234  # faiss.Kmeans's default seed, which PML's FaissKMeans leaves in place
PML_NAMES = {"recall@1": "precision_at_1", "map@r": "mean_average_precision_at_r",
             "r_precision": "r_precision", "nmi": "NMI"}


def repeats(n: int) -> int:
    return 5 if n <= 20_000 else 3


def ours(x: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Our four metrics, named as in PML_NAMES."""
    from smartmining.evaluation import evaluate

    return evaluate(x, labels, ks=(1,), metrics=("recall", "map@r", "r_precision", "nmi"), seed=KMEANS_SEED)


def pml_calculator(kmeans_func: Any = None) -> Any:
    """AccuracyCalculator for the four metrics on the CPU with an exact flat L2 FAISS search."""
    import faiss
    import torch
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import FaissKMeans, FaissKNN

    # PML's defaults spelt out; min_points_per_centroid=1 only silences FAISS's "too few points" warning.
    kmeans_func = kmeans_func or FaissKMeans(niter=20, gpu=False, min_points_per_centroid=1)
    return AccuracyCalculator(include=tuple(PML_NAMES.values()), exclude=(), k="max_bin_count",
                              device=torch.device("cpu"), knn_func=FaissKNN(index_init_fn=faiss.IndexFlatL2),
                              kmeans_func=kmeans_func)


def pml(x: np.ndarray, labels: np.ndarray, calculator: Any = None) -> dict[str, float]:
    """PML's four metrics, renamed to ours (query = reference, the query excluded by index)."""
    import torch

    calculator = calculator or pml_calculator()
    xt, lt = torch.from_numpy(x), torch.from_numpy(labels)
    out = calculator.get_accuracy(xt, lt, xt, lt, ref_includes_query=True)
    return {ours_name: float(out[theirs]) for ours_name, theirs in PML_NAMES.items()}


def nmi_on_shared_clustering(x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(our nmi, PML's calculate_NMI) of the SAME cluster labels (our k-means, seed 1234)."""
    from smartmining.evaluation import kmeans_labels, nmi

    clusters = kmeans_labels(x, int(np.unique(labels).size), seed=KMEANS_SEED)
    return nmi(clusters, labels), float(pml_calculator().calculate_NMI(query_labels=labels, cluster_labels=clusters))


def timed(call: Any) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def side_by_side(n: int, d: int, n_classes: int, noise: float, seed: int) -> dict[str, Any]:
    x, labels = clustered_embeddings(n, d, n_classes, seed, noise)
    calculator = pml_calculator()
    ours(x[:200], labels[:200] % 5), pml(x[:200], labels[:200] % 5, calculator)  # warm both up
    t_ours, t_pml, values = [], [], {}
    for rep in range(repeats(n)):
        order = ("ours", "pml") if rep % 2 == 0 else ("pml", "ours")
        for side in order:
            seconds, out = timed(lambda: ours(x, labels) if side == "ours" else pml(x, labels, calculator))
            (t_ours if side == "ours" else t_pml).append(seconds)
            values.setdefault(side, out)
    nmi_ours, nmi_pml = nmi_on_shared_clustering(x, labels)
    diffs = {name: abs(values["ours"][name] - values["pml"][name]) for name in PML_NAMES}
    return {
        "N": n, "d": d, "classes": n_classes, "noise": noise, "k": int(np.bincount(labels).max() - 1),
        "repeats": len(t_ours), "ours_s": statistics.median(t_ours), "pml_s": statistics.median(t_pml),
        "ours_runs_s": t_ours, "pml_runs_s": t_pml,
        "ratio": statistics.median(t_ours) / statistics.median(t_pml),
        "ours": values["ours"], "pml": values["pml"], "max_abs_diff": max(diffs.values()), "diffs": diffs,
        "nmi_same_clustering_diff": abs(nmi_ours - nmi_pml),
    }


def child(side: str, n: int, d: int, n_classes: int, noise: float, seed: int) -> None:
    """One call of one side in this fresh process; prints its memory figures as JSON."""
    if side == "pml":
        calculator = pml_calculator()
    else:
        import smartmining.evaluation  # noqa: F401  (the import is part of the baseline, not the peak)
    x, labels = clustered_embeddings(n, d, n_classes, seed, noise)
    before = status_kib("VmRSS")
    reset = reset_peak_rss()
    seconds, _ = timed(lambda: pml(x, labels, calculator) if side == "pml" else ours(x, labels))
    peak = status_kib("VmHWM")
    print(json.dumps({"rss_before_mib": before / 1024, "peak_mib": peak / 1024, "delta_mib": (peak - before) / 1024,
                      "peak_was_reset": reset, "seconds": seconds, "torch_imported": "torch" in sys.modules}))


def memory(side: str, n: int, d: int, n_classes: int, noise: float, seed: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", side, str(n), str(d), str(n_classes), str(noise), str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"memory child {side} N={n} d={d} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


COLUMNS = [
    ("N", "N", ",d"), ("d", "d", "d"), ("classes", "classes", ",d"), ("k", "k (R max)", "d"),
    ("ours_s", "ours s", ".2f"), ("pml_s", "PML s", ".2f"), ("ratio", "ours/PML time", ".2f"), ("repeats", "runs", "d"),
    ("ours_delta_mib", "ours peak-before MiB", ".0f"), ("pml_delta_mib", "PML peak-before MiB", ".0f"),
    ("ours_peak_mib", "ours peak MiB", ".0f"), ("pml_peak_mib", "PML peak MiB", ".0f"),
    ("max_abs_diff", "max abs diff", ".1e"), ("nmi_same_clustering_diff", "NMI diff, same clusters", ".1e"),
    ("recall@1", "R@1", ".4f"), ("map@r", "MAP@R", ".4f"), ("r_precision", "R-prec", ".4f"), ("nmi", "NMI", ".4f"),
]


def verdict(rows: list[dict[str, Any]]) -> str:
    """The project target, row by row: ours <= 0.8x PML's time, no more memory, identical values."""
    lines = []
    for r in rows:
        fast, lean, same = r["ratio"] <= 0.8, r["ours_delta_mib"] <= r["pml_delta_mib"], r["max_abs_diff"] <= 1e-9
        met = "met" if fast and lean and same else "NOT met"
        lines.append(f"N={r['N']:,} d={r['d']}: {met} (time {r['ratio']:.2f}x {'<=' if fast else '>'} 0.8x; "
                     f"memory {r['ours_delta_mib']:.0f} vs {r['pml_delta_mib']:.0f} MiB; "
                     f"values {'identical' if same else 'DIFFER'} to {r['max_abs_diff']:.1e})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000 only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        side, n, d, c, noise, seed = args.child
        child(side, int(n), int(d), int(c), float(noise), int(seed))
        return

    info = machine()
    print(f"# bench_vs_pml: {info['cpus']} cpus ({info['cpu_model']}), load average at start "
          f"{info['load_average'][0]:.1f}; medians of 5 (3 above N = 20,000), alternating order", flush=True)
    rows = []
    for n, d, n_classes, noise in QUICK_CONFIGS if args.quick else CONFIGS:
        row = side_by_side(n, d, n_classes, noise, args.seed)
        for side in ("ours", "pml"):
            mem = memory(side, n, d, n_classes, noise, args.seed)
            row[f"{side}_delta_mib"], row[f"{side}_peak_mib"] = mem["delta_mib"], mem["peak_mib"]
            row[f"{side}_rss_before_mib"], row[f"{side}_torch_imported"] = mem["rss_before_mib"], mem["torch_imported"]
        row.update(row["ours"])
        rows.append(row)
        print(f"  N={n:,} d={d}: ours {row['ours_s']:.2f} s, PML {row['pml_s']:.2f} s, "
              f"max abs diff {row['max_abs_diff']:.1e}", file=sys.stderr, flush=True)
    print(markdown_table(rows, COLUMNS))
    print("\nTarget (ours <= 0.8x PML's time, no more memory, identical values):")
    print(verdict(rows))
    if args.json:
        from smartmining.atomic import write_json

        write_json(args.json, {"machine": info, "rows": rows, "verdict": verdict(rows)})


if __name__ == "__main__":
    main()
