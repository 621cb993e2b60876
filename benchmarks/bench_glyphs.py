"""Time rendering the glyph dataset (median of 3 runs) and print its size.

Usage: PYTHONPATH=src python benchmarks/bench_glyphs.py [--image-size 48] [--repeats 3]
       [--source-classes 400 --source-images-per-class 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from smartmining.data.glyph_fonts import usable_fonts
from smartmining.data.glyph_source import source_classes
from smartmining.data.glyphs import render_glyphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-classes", type=int, default=200)
    parser.add_argument("--images-per-class", type=int, default=40)
    parser.add_argument("--image-size", type=int, nargs="+", default=[32, 48])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--source-classes", type=int, default=0)
    parser.add_argument("--source-images-per-class", type=int, default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    usable_fonts()  # font checks, once per process
    checks = time.perf_counter() - start
    start = time.perf_counter()
    pool = source_classes(8)  # the source pool's checks, once per process
    source_checks = time.perf_counter() - start

    print(f"font checks: {checks:.2f} s; source pool checks: {source_checks:.2f} s, {len(pool)} source "
          f"characters with >= 8 fonts (once per process)")
    print("| image size | classes | images | train/test/source classes | render s (median of "
          f"{args.repeats}) | images/s |")
    print("|---|---|---|---|---|---|")
    for size in args.image_size:
        times = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                manifest = render_glyphs(Path(tmp), n_classes=args.n_classes,
                                         images_per_class=args.images_per_class, image_size=size,
                                         source_classes=args.source_classes,
                                         source_images_per_class=args.source_images_per_class)
                times.append(time.perf_counter() - start)
                scripts = pd.read_csv(Path(tmp) / "classes.csv")["script"].value_counts().to_dict()
        median = statistics.median(times)
        per_split = manifest.drop_duplicates("label")["split"].value_counts()
        print(f"| {size} | {manifest['label'].nunique()} | {len(manifest)} | "
              f"{per_split['train']}/{per_split['test']}/{per_split.get('source', 0)} | {median:.2f} | {len(manifest) / median:.0f} |")
    print(f"classes by script: {scripts}")


if __name__ == "__main__":
    main()
