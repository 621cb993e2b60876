"""The report's metrics.json as DVC shows it best: one small file per (dataset, method).

``dvc metrics show`` prints one row per file and one column per key, so the report's nested
``{dataset: {method: {recall@1, recall@8, nmi, map@r}}}`` would be a single row of dozens of columns;
split into ``OUT/<dataset>/<method>.json`` it is a table with a row per method and a column per metric.
DVC's ``metrics`` stage runs ``python -m smartmining.dvc_metrics results/PROFILE/metrics.json results/PROFILE/metrics``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from smartmining import atomic
from smartmining.errors import SmartMiningError


def split_metrics(nested: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{dataset: {method: metrics}}`` -> ``{"dataset/method.json": metrics}`` (file names safe for any method name)."""
    out: dict[str, dict[str, float]] = {}
    for dataset, methods in nested.items():
        if not isinstance(methods, dict):
            raise SmartMiningError(f"metrics: expected {{dataset: {{method: {{metric: value}}}}}}, got {dataset!r}: {methods!r}")
        for method, values in methods.items():
            out[f"{dataset}/{method.replace('/', '_')}.json"] = dict(values)
    return out


def write_split(source: Path, out: Path) -> list[Path]:
    try:
        nested = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SmartMiningError(f"{source}: cannot read the report's metrics ({exc}); run the pipeline first") from None
    written = []
    for name, values in split_metrics(nested).items():
        atomic.write_json(Path(out) / name, values)
        written.append(Path(out) / name)
    return written


if __name__ == "__main__":  # pragma: no cover - DVC's stage command
    try:
        for path in write_split(Path(sys.argv[1]), Path(sys.argv[2])):
            print(path)
    except SmartMiningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
