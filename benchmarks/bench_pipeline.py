"""Wall time of a profile end to end from a clean checkout, and of a rerun with nothing changed.

    python benchmarks/bench_pipeline.py                  # the cpu profile (the README's main job)
    python benchmarks/bench_pipeline.py --profile smoke  # a minute or two
    python benchmarks/bench_pipeline.py --json out.json
    python benchmarks/bench_pipeline.py --keep /tmp/cpu-run   # keep the clone and its results/

It clones this repository's HEAD into a temporary folder (so data/, runs/ and results/ start empty: the
glyphs are rendered as part of the timing), runs `snakemake all --config profile=P` there with the
clone's package (PYTHONPATH), then runs it again and checks that the rerun did no job.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine

from smartmining.atomic import write_json

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    # the clone's own package, not the (editable) installed one: edits in this checkout cannot leak in
    env = {**os.environ, "PYTHONPATH": str(cwd / "src")}
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-4000:]}")
    return wall, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", type=Path, default=None,
                    help="Clone into this (new) folder and keep it: its results/ then hold the profile's report.")
    args = ap.parse_args(argv)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = args.keep or Path(tmp) / "checkout"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
        snake = [sys.executable, "-m", "snakemake", "all", "--cores", args.cores, "--config", f"profile={args.profile}"]
        first, log = timed(snake, work)
        jobs = sum(1 for line in log.splitlines() if line.startswith("Finished jobid"))
        rerun, log2 = timed(snake, work)
        nothing = "Nothing to be done" in log2
    rows = [
        {"run": f"{args.profile} end to end (clean checkout)", "wall s": round(first, 1), "jobs": jobs,
         "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()},
        {"run": "rerun, nothing changed", "wall s": round(rerun, 1), "jobs": 0 if nothing else "some"},
    ]
    print(f"# bench_pipeline: profile {args.profile}, {info['cpus']} cores, load average at start "
          f"{info['load_average'][0]:.2f}")
    for r in rows:
        print(f"{r['run']:40s} {r['wall s']:>8.1f} s  jobs: {r['jobs']}  load average {info['load_average'][0]:.1f} at start")
    if args.json:
        write_json(args.json, {"args": vars(args), "machine": info, "rows": rows})


if __name__ == "__main__":
    main()
