"""The registry of datasets: a name maps to a preparer that builds ``root/manifest.csv``.

A preparer is ``fn(root: Path, **options) -> manifest DataFrame``; it writes any files it needs under
root (images, classes.csv) and returns the manifest, which ``prepare_dataset`` validates and writes.
``root/dataset.json`` records the name, the preparer's version and its options (defaults filled in),
so preparing again with the same ones is a cheap no-op.

Every dataset registered with ``register_dataset`` gets a clean manifest: classes with a single image
(no positive can be drawn for them) are excluded with a warning and listed in dataset.json under
``excluded_singleton_classes``; then each split must still hold at least two classes.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from smartmining.atomic import write_json
from smartmining.data.glyphs import render_glyphs
from smartmining.data.imagefolder import scan_imagefolder
from smartmining.data.manifest import check_split_classes, drop_singleton_classes, validate_manifest, write_manifest
from smartmining.errors import SmartMiningError

Preparer = Callable[..., pd.DataFrame]

DATASETS: dict[str, Preparer] = {}
_VERSIONS: dict[str, int] = {}
_CLEANED: set[str] = set()  # datasets whose manifests lose their single-image classes (all registered ones)

MANIFEST_NAME = "manifest.csv"
RECORD_NAME = "dataset.json"


def register_dataset(name: str, version: int = 1) -> Callable[[Preparer], Preparer]:
    """Register a preparer under ``name``; bump ``version`` when its output changes."""

    def decorate(preparer: Preparer) -> Preparer:
        if name in DATASETS:
            raise SmartMiningError(f"dataset {name!r} is registered twice")
        DATASETS[name] = preparer
        _VERSIONS[name] = version
        _CLEANED.add(name)
        return preparer

    return decorate


def available_datasets() -> list[str]:
    return sorted(DATASETS)


def _record(name: str, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """What dataset.json holds: name, version and options with defaults, in JSON form for comparison."""
    preparer = DATASETS[name]
    try:
        bound = inspect.signature(preparer).bind(root, **options)
    except TypeError as exc:
        accepted = list(inspect.signature(preparer).parameters)[1:]
        raise SmartMiningError(f"dataset {name!r}: bad options {sorted(options)} ({exc}); "
                               f"accepted options: {accepted}") from exc
    bound.apply_defaults()
    resolved = dict(bound.arguments)
    resolved.pop(next(iter(inspect.signature(preparer).parameters)))  # the root itself
    record = {"dataset": name, "version": _VERSIONS[name], "options": resolved}
    return json.loads(json.dumps(record, default=str))  # Paths -> str, tuples -> lists


def prepare_dataset(name: str, root: Path, **options: Any) -> Path:
    """Build ``root/manifest.csv`` for dataset ``name`` unless it exists with the same options; return its path."""
    if name not in DATASETS:
        raise SmartMiningError(f"unknown dataset {name!r}; known datasets: {available_datasets()}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise SmartMiningError(f"dataset {name!r}: the data folder {root} is a file; expected a folder (or no path yet)")
    manifest_path, record_path = root / MANIFEST_NAME, root / RECORD_NAME
    record = _record(name, root, options)
    if manifest_path.is_file() and record_path.is_file():
        try:
            stored = json.loads(record_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            stored = None  # a damaged record: prepare again
        # Only the identity keys decide; notes such as excluded_singleton_classes ride along.
        if isinstance(stored, dict) and {key: stored.get(key) for key in record} == record:
            return manifest_path
    # Drop the record first: a crash mid-way then never leaves a record beside a stale manifest.
    record_path.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    manifest = DATASETS[name](root, **options)
    source = f"dataset {name!r} in {root}"
    manifest = validate_manifest(manifest, source=source)
    if name in _CLEANED:
        manifest, excluded = drop_singleton_classes(manifest)
        if excluded:
            warnings.warn(f"{source}: excluded {len(excluded)} class(es) with a single image (no positive "
                          f"possible): {excluded[:10]}{' ...' if len(excluded) > 10 else ''}", stacklevel=2)
            record["excluded_singleton_classes"] = excluded
            source += f" (after excluding {len(excluded)} single-image classes)"
    check_split_classes(manifest, source)
    write_manifest(manifest, manifest_path)
    write_json(record_path, record)
    return manifest_path


@register_dataset("glyphs", version=1)
def _prepare_glyphs(root: Path, *, seed: int = 0, n_classes: int = 200, images_per_class: int = 40,
                    image_size: int = 48, fonts_per_class_min: int = 8) -> pd.DataFrame:
    return render_glyphs(root, seed=seed, n_classes=n_classes, images_per_class=images_per_class,
                         image_size=image_size, fonts_per_class_min=fonts_per_class_min)


@register_dataset("imagefolder", version=1)
def _prepare_imagefolder(root: Path, *, source: str, train_classes: list[str] | None = None,
                         test_classes: list[str] | None = None) -> pd.DataFrame:
    return scan_imagefolder(Path(source), root, train_classes=train_classes, test_classes=test_classes)


import smartmining.data.paper_datasets  # noqa: E402,F401  (registers cub200, cars196, sop)


def check_prepared(name: str, root: Path, **options: Any) -> Path:  # placeholder until the data branch lands
    return prepare_dataset(name, root, **options)
