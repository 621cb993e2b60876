"""Run the benchmark scripts (or read their JSON outputs) and write results/benchmarks.md.

    python benchmarks/report_benchmarks.py                      # vs PML, training, mining: 7-10 min on 2 cores
    python benchmarks/report_benchmarks.py --all                # also bench_evaluation (ours alone), +1-2 min
    python benchmarks/report_benchmarks.py --quick              # small sizes, about 2 min
    python benchmarks/report_benchmarks.py --from DIR           # only read DIR/<name>.json, run nothing
    python benchmarks/report_benchmarks.py --json-dir DIR       # run, and keep the JSON outputs in DIR

Each script runs in its own process with --json; the Markdown states the machine (cores, CPU model,
load average when the report started) and the date, since the timings depend on both.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_pml_miners
import bench_training
import bench_vs_pml
from bench_mining import fitted_exponent
from common import machine, markdown_table
from smartmining.atomic import write_json, write_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# name -> (arguments of a full run, arguments of a --quick run); None: not run in that mode.
SCRIPTS: dict[str, tuple[list[str] | None, list[str] | None]] = {
    "bench_vs_pml": ([], ["--quick"]),
    "bench_pml_miners": ([], ["--quick"]),
    "bench_training": ([], ["--quick"]),
    "bench_evaluation": ([], None),
    "bench_mining": (["--sizes", "20000,100000,200000,500000,1000000", "--budget", "150", "--recall-sample", "500",
                      "--plot", str(ROOT / "results/benchmarks_mining.png")],
                     ["--quick", "--plot", str(ROOT / "results/benchmarks_mining.png")]),
    "bench_pipeline": ([], ["--profile", "smoke"]),
}
# bench_evaluation's figures repeat the "ours" side of bench_vs_pml; bench_pipeline takes the cpu profile's
# whole run (minutes), so both run only with --all.
ONLY_WITH_ALL = {"bench_evaluation", "bench_pipeline"}


def run_scripts(json_dir: Path, quick: bool, run_all: bool) -> dict[str, float]:
    """Run each script with --json into ``json_dir``; returns their wall times."""
    walls = {}
    for name, (full, short) in SCRIPTS.items():
        extra = short if quick else full
        if extra is None or (name in ONLY_WITH_ALL and not run_all):
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra, "--json", str(json_dir / f"{name}.json")]
        print(f"running {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, check=False)
        walls[name] = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"{name} failed (exit {done.returncode}); see its output above")
    write_json(json_dir / WALLS, walls)
    return walls


WALLS = "wall_times.json"


def load(json_dir: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """The scripts' JSON outputs found in ``json_dir``, and their wall times where recorded."""
    data = {name: json.loads((json_dir / f"{name}.json").read_text())
            for name in SCRIPTS if (json_dir / f"{name}.json").is_file()}
    walls = json.loads((json_dir / WALLS).read_text()) if (json_dir / WALLS).is_file() else {}
    return data, walls


def vs_pml_section(data: dict[str, Any]) -> list[str]:
    return [
        "## Evaluation: ours against pytorch-metric-learning",
        "",
        "`smartmining.evaluation.evaluate` against PML 2.9's `AccuracyCalculator` on the same clustered synthetic "
        "embeddings (L2-normalised), both with an exact FAISS flat L2 search and FAISS k-means (20 iterations, "
        "seed 1234). Time: median of the calls of each, side by side in one process, alternating order. Memory: "
        "each side once in a fresh process; 'peak-before' is the peak resident set during the call minus the "
        "resident set before it (imports and data excluded), 'peak' the whole process (PML's includes torch). "
        "'max abs diff' is the largest difference of R@1 / MAP@R / R-precision / NMI between the two; "
        "'NMI diff, same clusters' feeds one clustering to both NMI functions. Both sides run the same FAISS "
        "search (one call over all queries, so the float32 distances agree bit for bit) and the same k-means; "
        "most of the time apart from those is PML's relevance mask, built by a Python loop over the classes that "
        "scans all N labels per class (O(N x classes)), once for MAP@R and once for R-precision.",
        "",
        markdown_table(data["rows"], bench_vs_pml.COLUMNS),
        "",
        "Target (ours at most 0.8x PML's time, no more memory, identical values):",
        "",
        *[f"- {line}" for line in data["verdict"].splitlines()],
    ]


def pml_miners_section(data: dict[str, Any]) -> list[str]:
    a = data["args"]
    return [
        "## Mining in a PML loop: our `SmartMiner` beside PML's miners",
        "",
        f"`benchmarks/bench_pml_miners.py`: one miner call on a batch of {a['batch']} (64 classes x 4) against a "
        f"reference set (the batch itself at 256; a memory bank holding the batch above), d = {a['dim']}, "
        f"{a['classes']} classes, torch threads {data['threads']}. Ours: `smartmining.pml.SmartMiner(kappa=1.2)` "
        "(whole lists, no sort) and with k = 200 (top-k lists); PML 2.9: `TripletMarginMiner(margin=0.2, "
        "type_of_triplets=\"semihard\")`, `BatchHardMiner()`, `MultiSimilarityMiner()` (its output is pairs). Median of "
        f"{a['repeats']} calls each, side by side in one process, the miners taking turns. Peak MiB: CPU, one call in a "
        "fresh process, peak resident set minus the resident set before it; GPU, `torch.cuda.max_memory_allocated`.",
        "",
        markdown_table(data["rows"], bench_pml_miners.COLUMNS),
        "",
        "Target (ours at most TripletMarginMiner's time at every size):",
        "",
        *[f"- {line}" for line in data["verdict"].splitlines()],
    ]


def training_section(data: dict[str, Any]) -> list[str]:
    s = data["setup"]
    return [
        "## Training: throughput and phases of an epoch (cpu profile)",
        "",
        f"Every method trained {s['epochs']} epochs (warm-up {s['warmup_epochs']}) on the cpu profile's glyphs "
        f"{s['glyphs']}, {s['triplets_per_epoch'] or 'one triplet per training anchor'} {'triplets ' if s['triplets_per_epoch'] else ''}an epoch, from scratch (model.init scratch), torch threads {s['threads']}. Medians over "
        f"the epochs after the warm-up. 'train img/s' = distinct images a training phase pushes through the "
        f"network per second; shares are of the whole epoch (other = triplet sampling and batching).",
        "",
        bench_training.table(data["rows"]),
        "",
        f"Target (smart mining under {100 * bench_training.MINING_SHARE_TARGET:.0f}% of an epoch): {data['verdict']}",
    ]


EVALUATION_COLUMNS = [
    ("N", "N", ",d"), ("d", "d", "d"), ("classes", "classes", ",d"), ("knn_k", "knn k", "d"),
    ("median_s", "median s", ".2f"), ("rss_before_mib", "RSS before MiB", ".0f"), ("peak_rss_mib", "peak RSS MiB", ".0f"),
]


def evaluation_section(data: dict[str, Any]) -> list[str]:
    return [
        "## Evaluation alone (ours, no torch in the process)",
        "",
        f"`evaluate()` with the default metrics (R@1,2,4,8, NMI, MAP@R, R-precision), median of {data['repeats']} "
        "calls, one process per row.",
        "",
        markdown_table(data["rows"], EVALUATION_COLUMNS),
    ]


MINING_COLUMNS = [
    ("method", "method", "s"), ("N", "N", ",d"), ("anchors", "anchors queried", ",d"), ("index", "index", "s"),
    ("time", "time s", "s"), ("runs", "runs", "d"), ("cold_seconds", "cold call s", ".1f"), ("t_build", "build s", ".1f"), ("t_search", "search s", ".1f"),
    ("t_select", "select s", ".1f"), ("t_recall", "recall s", ".1f"), ("recall", "list recall", ".3f"),
    ("index_p1_recall", "index p1", ".3f"), ("p1_recall", "p1 recall", ".3f"), ("n1_recall", "n1 recall", ".3f"),
    ("rss_peak_mib", "peak RSS MiB", ".0f"), ("load", "load", ".1f"),
]


def mining_verdict(rows: list[dict[str, Any]]) -> list[str]:
    """One line per smart-auto method measured at 1M: each target met or not, with the figures."""
    lines = []
    for method in dict.fromkeys(r["method"] for r in rows if r["method"].startswith("smart-auto")):
        mine = {r["N"]: r for r in rows if r["method"] == method and not r["extrapolated"]}
        top = mine.get(1_000_000)
        if top is None:
            lines.append(f"{method}: not measured at 1M")
            continue
        slope = fitted_exponent([r for n, r in mine.items() if n >= 100_000])
        checks = [(top["seconds"] < 120, f"{top['seconds']:.0f} s"), (top["rss_peak_mib"] < 8192, f"{top['rss_peak_mib']:.0f} MiB"),
                  (top["p1_recall"] >= 0.9, f"p1 recall {top['p1_recall']:.3f}"), (slope <= 1.2, f"N^{slope:.2f}")]
        said = "; ".join(f"{text} {'met' if ok else 'NOT met'}" for ok, text in checks)
        lines.append(f"{method} ({top['anchors']:,d} anchors queried, load {top['load']:.1f} at the start): {said}")
    return lines


def mining_section(data: dict[str, Any]) -> list[str]:
    rows = []
    for r in data["rows"]:
        shown = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        shown["time"] = ("~" if r["extrapolated"] else "") + f"{r['seconds']:.2f}"
        rows.append(shown)
    methods = list(dict.fromkeys(r["method"] for r in data["rows"]))
    growth = ", ".join(
        f"{m} N^{fitted_exponent([r for r in data['rows'] if r['method'] == m]):.2f}" for m in methods)
    big = [r for r in data["rows"] if r["N"] >= 100_000 and not r["extrapolated"]]
    big_growth = ", ".join(
        f"{m} N^{fitted_exponent([r for r in big if r['method'] == m]):.2f}" for m in methods
        if sum(r["method"] == m for r in big) >= 2)
    a = data["args"]
    return [
        "## Mining: smart mining against exhaustive hard mining",
        "",
        *([f"Measured {data['measured']} on this machine (2 cores, shared with other jobs: see the load column).", ""]
          if "measured" in data else []),
        f"One mining call (`benchmarks/bench_mining.py`) over N clustered synthetic embeddings (d = 64, N/40 "
        f"classes, k = {a['k']}, kappa = {a['kappa']}), each cell in a fresh process; '~' marks a time "
        "extrapolated from the previous size because running it would exceed the budget. 'anchors queried': "
        "the anchors whose lists are searched and mined (METHOD@0.5: half of N, as the trainer mines "
        "round(mined_fraction x triplets_per_epoch) anchors an epoch). '+warm': the time of a second call of one "
        "miner, whose IVF centroids the first call (its time: 'cold call s') trained, as in the trainer's epochs "
        "after the first. smart-auto is exact search below "
        "50,000 points and above it IVF (lists of about 256 points, nprobe 8, centroids trained on a sample in "
        "every measured call except '+warm') with exact positives: each anchor's "
        "class-mates are measured exactly and merged into its list (mining/lists.py). build = k-means + adding "
        "the points; search = lists incl. growth and class-mates; select = Algorithm 1; recall = the "
        f"measurement on {a['recall_sample']} sampled anchors against exact search (part of the time). list "
        "recall: the bare index's k against the exact k; index p1: the bare index's nearest positive is the "
        "true one; p1 recall: the same for the lists Algorithm 1 gets; n1 recall: their first qualifying "
        "negative (eq. 6) is the exact list's. Peak RSS: the whole process (ru_maxrss, data included); load: "
        "the 1-minute load average when the cell started (the machine was shared).",
        "",
        markdown_table(rows, MINING_COLUMNS),
        "",
        f"Fitted growth (least squares of log time on log N over the measured cells): {growth}.",
        *([f"From 100k up: {big_growth}."] if big_growth else []),
        "",
        "Target (issue 15: a refresh at 1M x 64 under 120 s, peak RSS under 8 GB, p1 recall >= 0.9, growth "
        "no worse than N^1.2 from 100k to 1M):",
        "",
        *[f"- {line}" for line in mining_verdict(data["rows"])],
        "",
        "![time against N, log-log](benchmarks_mining.png)",
    ]


def pipeline_section(data: dict[str, Any]) -> list[str]:
    return [
        # the profile before the colon: each profile's section is replaced apart (--update)
        f"## Pipeline, the `{data['args']['profile']}` profile: end to end",
        "",
        f"`benchmarks/bench_pipeline.py --profile {data['args']['profile']} --cores {data['args']['cores']}`: "
        "a clean clone of the repository, `snakemake all` with the clone's package (data prepared as part of it), "
        "then the same command again with nothing changed. Machine: "
        f"{data['machine']['cpus']} cores ({data['machine']['cpu_model']}), load average "
        # when the run started (its JSON's machine stamp), not when the JSON was copied or read
        f"{data['machine']['load_average'][0]:.2f} at the start; started {data['machine']['date']}.",
        "",
        markdown_table(data["rows"], [("run", "run", "s"), ("wall s", "wall s", ".1f"), ("jobs", "jobs", ""),
                                      ("commit", "commit", "s")]),
    ]


SECTIONS = {"bench_vs_pml": vs_pml_section, "bench_pml_miners": pml_miners_section, "bench_training": training_section,
            "bench_evaluation": evaluation_section, "bench_mining": mining_section,
            "bench_pipeline": pipeline_section}


def render(data: dict[str, Any], info: dict[str, Any], walls: dict[str, float]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured {info['date']} (`benchmarks/report_benchmarks.py`) on {info['cpus']} cores "
        f"({info['cpu_model']}), Python {info['python']}; load average at start "
        f"{' / '.join(f'{v:.2f}' for v in info['load_average'])} (1 / 5 / 15 min). The machine may be shared: "
        "absolute times are noisy, ratios measured side by side in one process are what count.",
    ]
    if walls:
        lines += ["", "Script wall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()) + "."]
    for name, section in SECTIONS.items():
        if name in data:
            lines += ["", *section(data[name])]
    return "\n".join(lines) + "\n"


def replace_section(markdown: str, section: list[str]) -> str:
    """``markdown`` with the "## " section whose heading is ``section[0]``'s first words replaced (or appended)."""
    key = section[0].split(":")[0]
    parts = markdown.rstrip("\n").split("\n## ")
    new = "\n".join(section)[3:] + "\n"  # a blank line before the next section
    for i, part in enumerate(parts[1:], 1):
        if ("## " + part).split(":")[0] == key:
            parts[i] = new
            break
    else:
        parts.append(new)
    return "\n## ".join(parts).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; skips bench_evaluation")
    parser.add_argument("--all", dest="run_all", action="store_true", help="also run bench_evaluation")
    parser.add_argument("--from", dest="source", type=Path, default=None, help="read the JSON files here, run nothing")
    parser.add_argument("--json-dir", type=Path, default=None, help="keep the JSON outputs here")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks.md")
    parser.add_argument("--update", choices=sorted(SECTIONS), default=None,
                        help="with --from: replace only this script's section in the existing --out")
    args = parser.parse_args(argv)
    if args.update:
        if not args.source:
            raise SystemExit("--update needs --from DIR (run the script with --json into DIR first)")
        data, _ = load(args.source)
        if args.update not in data:
            raise SystemExit(f"--from {args.source}: no {args.update}.json there")
        written = (args.source / f"{args.update}.json").stat().st_mtime
        data[args.update].setdefault("measured", datetime.datetime.fromtimestamp(written).astimezone().isoformat(timespec="seconds"))
        write_text(args.out, replace_section(args.out.read_text(), SECTIONS[args.update](data[args.update])))
        print(f"updated the {args.update} section of {args.out}")
        return

    info = machine()
    if args.source:
        data, walls = load(args.source)
        if not data:
            raise SystemExit(f"--from {args.source}: no {', '.join(f'{n}.json' for n in SCRIPTS)} there")
        # The machine as the first script saw it, not as it is now.
        info = next((d["machine"] for d in data.values() if "machine" in d), info)
    else:
        with tempfile.TemporaryDirectory(prefix="benchmarks-") as tmp:
            json_dir = args.json_dir or Path(tmp)
            json_dir.mkdir(parents=True, exist_ok=True)
            run_scripts(json_dir, args.quick, args.run_all)
            data, walls = load(json_dir)
    write_text(args.out, render(data, info, walls))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
