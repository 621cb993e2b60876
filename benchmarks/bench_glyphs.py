"""Time rendering the glyph dataset (median of 3 runs) and print its size.

Usage: PYTHONPATH=src python benchmarks/bench_glyphs.py [--image-size 48] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from smartmining.data.glyphs import render_glyphs, usable_fonts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-classes", type=int, default=200)
    parser.add_argument("--images-per-class", type=int, default=40)
    parser.add_argument("--image-size", type=int, nargs="+", default=[32, 48])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    usable_fonts()  # font checks, once per process
    checks = time.perf_counter() - start

    print(f"font checks: {checks:.2f} s (once per process)")
    print("| image size | classes | images | train/test classes | render s (median of "
          f"{args.repeats}) | images/s |")
    print("|---|---|---|---|---|---|")
    for size in args.image_size:
        times = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                manifest = render_glyphs(Path(tmp), n_classes=args.n_classes,
                                         images_per_class=args.images_per_class, image_size=size)
                times.append(time.perf_counter() - start)
                scripts = pd.read_csv(Path(tmp) / "classes.csv")["script"].value_counts().to_dict()
        median = statistics.median(times)
        per_split = manifest.drop_duplicates("label")["split"].value_counts()
        print(f"| {size} | {manifest['label'].nunique()} | {len(manifest)} | "
              f"{per_split['train']}/{per_split['test']} | {median:.2f} | {len(manifest) / median:.0f} |")
    print(f"classes by script: {scripts}")


if __name__ == "__main__":
    main()
