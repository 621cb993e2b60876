"""Our PML SmartMiner beside PML's own miners: time and peak memory per call.

    python benchmarks/bench_pml_miners.py [--quick] [--json out.json] [--no-memory]

A batch of 256 (64 classes x 4, PML's MPerClassSampler layout) mined against a reference set of 256
(the batch itself), 4,096 and 16,384 embeddings (a memory bank that holds the batch, as
CrossBatchMemory's does), d = 64, 100 classes, class centres plus noise. Miners: ours (kappa 1.2, whole
lists and k = 200) and PML's TripletMarginMiner(margin=0.2, type_of_triplets="semihard"), BatchHardMiner,
MultiSimilarityMiner. Time: median of --repeats calls each, side by side in one process, the miners
taking turns. Memory: CPU: each (miner, size) once in a fresh process, peak resident set during the
call minus the resident set before it; GPU (where torch sees one): torch.cuda.max_memory_allocated.
TripletMarginMiner lists every (a, p, n) candidate before filtering; where that list alone (3 int64 per
candidate, counted from the labels) exceeds --memory-cap-gib it is not run and the row says so.
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

import torch

from common import machine, markdown_table, reset_peak_rss, status_kib

BATCH_CLASSES, PER_CLASS, CLASSES, DIM = 64, 4, 100, 64
MINERS = ("smart", "smart-k200", "pml-semihard", "pml-batchhard", "pml-multisimilarity")
COLUMNS = [("device", "device", "s"), ("ref", "reference", ",d"), ("miner", "miner", "s"), ("median_ms", "median ms", ".1f"),
           ("ratio", "time / PML semihard", ".3f"), ("triplets", "triplets or pairs", ",d"), ("peak_mib", "peak MiB", ".0f"),
           ("note", "note", "s")]


def data(ref_size: int, device: str, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(batch, batch labels, reference, reference labels); the reference is the batch where ref_size = 256."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(CLASSES, DIM, generator=g)
    labels = torch.randperm(CLASSES, generator=g)[:BATCH_CLASSES].repeat_interleave(PER_CLASS)
    emb = centres[labels] + 1.2 * torch.randn(len(labels), DIM, generator=g)
    if ref_size <= len(labels):
        return emb.to(device), labels.to(device), emb.to(device), labels.to(device)
    ref_labels = torch.randint(0, CLASSES, (ref_size - len(labels),), generator=g)
    ref = centres[ref_labels] + 1.2 * torch.randn(len(ref_labels), DIM, generator=g)
    ref, ref_labels = torch.cat([ref, emb]), torch.cat([ref_labels, labels])
    return emb.to(device), labels.to(device), ref.to(device), ref_labels.to(device)


def miner(name: str) -> Any:
    from pytorch_metric_learning import miners

    from smartmining.pml import SmartMiner

    return {
        "smart": lambda: SmartMiner(kappa=1.2),
        "smart-k200": lambda: SmartMiner(kappa=1.2, k=200, seed=0),
        "pml-semihard": lambda: miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard"),
        "pml-batchhard": lambda: miners.BatchHardMiner(),
        "pml-multisimilarity": lambda: miners.MultiSimilarityMiner(),
    }[name]()


def call(m: Any, emb, labels, ref, ref_labels) -> tuple:
    return m(emb, labels) if ref is emb else m(emb, labels, ref, ref_labels)


def semihard_candidates_gib(labels: torch.Tensor, ref_labels: torch.Tensor) -> float:
    """GiB of TripletMarginMiner's list of every (a, p, n) candidate: 3 int64 per candidate."""
    same = (labels[:, None] == ref_labels[None, :]).sum(1).double()
    pos = same - (1 if len(labels) == len(ref_labels) else 0)
    return float((pos * (len(ref_labels) - same)).sum()) * 24 / 2**30


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_size(ref_size: int, device: str, repeats: int, cap_gib: float) -> list[dict[str, Any]]:
    emb, labels, ref, ref_labels = data(ref_size, device)
    if ref_size <= len(labels):
        ref, ref_labels = emb, labels
    skip = {}
    need = semihard_candidates_gib(labels, ref_labels)
    if need > cap_gib:
        skip["pml-semihard"] = f"not run: its candidate list alone needs {need:.1f} GiB > {cap_gib:g} GiB cap"
    names = [n for n in MINERS if n not in skip]
    built = {n: miner(n) for n in names}
    times: dict[str, list[float]] = {n: [] for n in names}
    counts = {}
    for n in names:  # warm-up call, and the output size
        counts[n] = len(call(built[n], emb, labels, ref, ref_labels)[0])
    for r in range(repeats):
        for n in names[r % len(names):] + names[: r % len(names)]:
            sync(device)
            t0 = time.perf_counter()
            call(built[n], emb, labels, ref, ref_labels)
            sync(device)
            times[n].append(time.perf_counter() - t0)
    rows = []
    base = statistics.median(times["pml-semihard"]) if "pml-semihard" in times else None
    for n in MINERS:
        row: dict[str, Any] = {"device": device, "ref": ref_size, "miner": n, "note": skip.get(n, "")}
        if n in times:
            med = statistics.median(times[n])
            row.update(median_ms=1000 * med, triplets=counts[n], runs=repeats, ratio=med / base if base else None)
        rows.append(row)
    return rows


def peak_memory(name: str, ref_size: int, device: str) -> float:
    """MiB: CUDA max allocated in this process; CPU peak RSS of one call in a fresh process."""
    if device == "cuda":
        emb, labels, ref, ref_labels = data(ref_size, device)
        m = miner(name)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        call(m, emb, labels, ref if ref_size > len(labels) else emb, ref_labels)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    done = subprocess.run([sys.executable, __file__, "--child", name, str(ref_size)], capture_output=True, text=True,
                          cwd=Path(__file__).parent, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def child(name: str, ref_size: int) -> None:
    torch.set_num_threads(torch.get_num_threads())
    emb, labels, ref, ref_labels = data(ref_size, "cpu")
    m = miner(name)
    reset_peak_rss()
    before = status_kib("VmRSS")
    call(m, emb, labels, ref if ref_size > len(labels) else emb, ref_labels)
    print((status_kib("VmHWM") - before) / 1024)


def verdict(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        if r["miner"] != "smart":
            continue
        sh = next(x for x in rows if x["device"] == r["device"] and x["ref"] == r["ref"] and x["miner"] == "pml-semihard")
        if "median_ms" not in sh:
            lines.append(f"{r['device']} reference {r['ref']:,}: met (TripletMarginMiner cannot run: {sh['note'][9:]}; "
                         f"ours {r['median_ms']:.1f} ms)")
        else:
            met = "met" if r["median_ms"] <= sh["median_ms"] else "NOT met"
            lines.append(f"{r['device']} reference {r['ref']:,}: {met} (ours {r['median_ms']:.1f} ms vs "
                         f"TripletMarginMiner {sh['median_ms']:.1f} ms, {r['ratio']:.3f}x)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="references 256 and 1,024, 3 repeats")
    parser.add_argument("--sizes", default="256,4096,16384")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-cap-gib", type=float, default=4.0)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    sizes = [256, 1024] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeats = 3 if args.quick else args.repeats
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for size in sizes:
            print(f"{device} reference {size}", file=sys.stderr, flush=True)
            rows += time_size(size, device, repeats, args.memory_cap_gib)
    if not args.no_memory:
        for row in rows:
            if "median_ms" in row:
                row["peak_mib"] = peak_memory(row["miner"], row["ref"], row["device"])
    out = {"machine": machine(), "threads": torch.get_num_threads(), "rows": rows, "verdict": verdict(rows),
           "args": {"batch": BATCH_CLASSES * PER_CLASS, "dim": DIM, "classes": CLASSES, "repeats": repeats}}
    print(markdown_table(rows, COLUMNS))
    print(out["verdict"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
