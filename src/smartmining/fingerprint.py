"""Fingerprints of parameters and code: the pipeline's cache keys and the checkpoint's rerun test.

A rule passes ``digest(run parameters)`` and ``code_digest(...)`` of the code it uses as Snakemake
params, so a change to either (and to nothing else) reruns it; file times play no part (DVC checkouts
change them).
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

TRAINING_CODE_EXCLUDES = ("report",)  # training and evaluation read every other part of the package


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_digest(*parts: str, exclude: tuple[str, ...] = ()) -> str:
    """Hash of the package's source files under the given subpackages/modules (all when none given),
    leaving out those under ``exclude``."""
    root = resources.files("smartmining")
    h = hashlib.sha256()
    for path in sorted(_source_files(root), key=str):
        rel = Path(str(path)).relative_to(Path(str(root))).as_posix()
        if (parts and not rel.startswith(parts)) or rel.startswith(exclude or ("\0",)):
            continue
        h.update(rel.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@functools.cache
def training_code() -> str:
    """The code a training run depends on (all but the report)."""
    return code_digest(exclude=TRAINING_CODE_EXCLUDES)


def _source_files(node):  # type: ignore[no-untyped-def]
    for child in node.iterdir():
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            yield from _source_files(child)
        elif child.name.endswith((".py", ".yaml", ".json", ".csv")):
            yield child
