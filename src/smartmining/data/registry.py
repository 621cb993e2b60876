"""The registry of datasets: a name maps to a preparer that builds ``root/manifest.csv``.

The dataset modules (glyphs, imagefolder, paper_datasets) register into it with ``register_dataset``;
it imports none of them (``smartmining.data`` imports them, so any import of the package registers
them all).

A preparer is ``fn(root: Path, **options) -> manifest DataFrame``; it writes any files it needs under
root (images, classes.csv) and returns the manifest. ``prepare_dataset`` then, for every dataset:
- decodes every image once; missing or damaged ones stop it with their paths listed, or with
  ``skip_bad_images=true`` are left out (listed in dataset.json under ``skipped_bad_images``);
- excludes classes with a single image (no positive can be drawn for them) with a warning, listed in
  dataset.json under ``excluded_singleton_classes``;
- moves ``val_classes`` training classes, chosen with ``val_seed``, to the split "val";
- checks that train and test (and source and val, when present) hold at least two classes each.
``root/dataset.json`` records the name, the preparer's version, the options that decide the data
(defaults filled in) and ``manifest_sha256``, the digest of what the manifest holds; preparing again with
the same options is a cheap no-op, and ``check_prepared`` tells a training run, without writing anything,
whether the folder holds what it needs.

A preparer's *fetch options* (``register_dataset(fetch=...)``) say where its files come from and how they
are fetched and checked: a local archive or folder, URLs, checksums, the download folder, retries,
progress. They are recorded under ``fetched_with`` but identify nothing: the same data prepared from a
local copy or a download is the same dataset, so they are in no cache key and no comparison
(``identity_options``).
"""

from __future__ import annotations

import inspect
import json
import shlex
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from smartmining.atomic import write_json
from smartmining.data.decode import find_bad_images
from smartmining.data.manifest import (check_split_classes, drop_singleton_classes, manifest_digest, read_manifest,
                                       relabel, validate_manifest, write_manifest)
from smartmining.data.splits import carve_val_classes
from smartmining.errors import SmartMiningError

Preparer = Callable[..., pd.DataFrame]

DATASETS: dict[str, Preparer] = {}
_VERSIONS: dict[str, int] = {}
_FETCH: dict[str, frozenset[str]] = {}

MANIFEST_NAME = "manifest.csv"
RECORD_NAME = "dataset.json"
# Options every dataset takes besides its preparer's own, with their defaults.
GENERIC_OPTIONS: dict[str, Any] = {"val_classes": 0, "val_seed": 0, "skip_bad_images": False}


def register_dataset(name: str, version: int = 1, fetch: tuple[str, ...] = ()) -> Callable[[Preparer], Preparer]:
    """Register a preparer under ``name``; bump ``version`` when its output changes. ``fetch``: its fetch options."""

    def decorate(preparer: Preparer) -> Preparer:
        if name in DATASETS:
            raise SmartMiningError(f"dataset {name!r} is registered twice")
        unknown = sorted(set(fetch) - set(inspect.signature(preparer).parameters))
        if unknown:
            raise SmartMiningError(f"dataset {name!r}: fetch options {unknown} are not options of its preparer")
        DATASETS[name] = preparer
        _VERSIONS[name] = version
        _FETCH[name] = frozenset(fetch)
        return preparer

    return decorate


def _fetch(name: str) -> frozenset[str]:
    return _FETCH.get(name, frozenset())


def available_datasets() -> list[str]:
    return sorted(DATASETS)


def _known(name: str) -> Preparer:
    if name not in DATASETS:
        raise SmartMiningError(f"unknown dataset {name!r}; known datasets: {available_datasets()}")
    return DATASETS[name]


def _generic(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The generic options with defaults filled in, checked."""
    given = {key: options.get(key, default) for key, default in GENERIC_OPTIONS.items()}
    for key in ("val_classes", "val_seed"):
        value = given[key]
        if isinstance(value, bool) or not isinstance(value, int) or (key == "val_classes" and value < 0):
            raise SmartMiningError(f"dataset {name!r}: option {key} must be an integer"
                                   f"{' >= 0' if key == 'val_classes' else ''}, got {value!r}")
    if not isinstance(given["skip_bad_images"], bool):
        raise SmartMiningError(f"dataset {name!r}: option skip_bad_images must be true or false, "
                               f"got {given['skip_bad_images']!r}")
    return given


def identity_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without the dataset's fetch options: what decides the prepared data."""
    _known(name)
    return {key: value for key, value in options.items() if key not in _fetch(name)}


def _record(name: str, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """What dataset.json holds: name, version, the identity options with defaults (JSON form, for comparison)
    and, apart, the fetch options given."""
    preparer = _known(name)
    own = {key: value for key, value in options.items() if key not in GENERIC_OPTIONS}
    parameters = inspect.signature(preparer).parameters
    try:
        bound = inspect.signature(preparer).bind(root, **own)
    except TypeError as exc:
        raise SmartMiningError(f"dataset {name!r}: bad options {sorted(options)} ({exc}); accepted options: "
                               f"{list(parameters)[1:]}, and for every dataset {list(GENERIC_OPTIONS)}") from exc
    bound.apply_defaults()
    resolved = dict(bound.arguments)
    resolved.pop(next(iter(parameters)))  # the root itself
    identity = {key: value for key, value in resolved.items() if key not in _fetch(name)}
    record = {"dataset": name, "version": _VERSIONS[name], "options": {**identity, **_generic(name, options)},
              "fetched_with": {key: value for key, value in own.items() if key in _fetch(name)}}
    return json.loads(json.dumps(record, default=str))  # Paths -> str, tuples -> lists


IDENTITY_KEYS = ("dataset", "version", "options")


def _same_data(stored: dict[str, Any] | None, record: dict[str, Any], manifest_path: Path, name: str) -> bool:
    """The stored record names the same data (fetch options ignored, also in older records) and the manifest
    still holds what was recorded."""
    if stored is None:
        return False
    prepared = stored.get("options") if isinstance(stored.get("options"), dict) else {}
    prepared = {key: value for key, value in prepared.items() if key not in _fetch(name)}
    if [stored.get("dataset"), stored.get("version"), prepared] != [record[k] for k in IDENTITY_KEYS]:
        return False
    return _manifest_matches(stored, manifest_path)


def _manifest_matches(stored: dict[str, Any], manifest_path: Path) -> bool:
    """The manifest's digest is the recorded one (records written before digests were kept pass)."""
    if "manifest_sha256" not in stored:
        return True
    try:
        return manifest_digest(read_manifest(manifest_path)) == stored["manifest_sha256"]
    except SmartMiningError:
        return False


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None  # missing or damaged
    return stored if isinstance(stored, dict) else None


def _clean(manifest: pd.DataFrame, root: Path, record: dict[str, Any], source: str) -> pd.DataFrame:
    """The preparer's manifest checked and cleaned as the module docstring says; notes go into ``record``."""
    options = record["options"]
    manifest = validate_manifest(manifest, source=source)
    bad, message = find_bad_images(manifest, root)
    if bad and not options["skip_bad_images"]:
        raise SmartMiningError(
            f"{source}: {message}\nRepair or remove these files and prepare again, or leave them out with "
            f"train.skip_bad_images: true in params.yaml (--option skip_bad_images=true for `smartmining prepare`).")
    if bad:
        warnings.warn(f"{source}: skip_bad_images=true: leaving out {len(bad)} of {len(manifest)} images. {message}",
                      stacklevel=3)
        manifest = relabel(manifest.loc[~manifest["path"].isin(set(bad))])
        record["skipped_bad_images"] = {"count": len(bad), "paths": bad}
        source += f" (after leaving out {len(bad)} bad images)"
    manifest, excluded = drop_singleton_classes(manifest)
    if excluded:
        warnings.warn(f"{source}: excluded {len(excluded)} class(es) with a single image (no positive "
                      f"possible): {excluded[:10]}{' ...' if len(excluded) > 10 else ''}", stacklevel=3)
        record["excluded_singleton_classes"] = excluded
        source += f" (after excluding {len(excluded)} single-image classes)"
    manifest = carve_val_classes(manifest, options["val_classes"], options["val_seed"], source)
    check_split_classes(manifest, source)
    return manifest


def prepare_dataset(name: str, root: Path, **options: Any) -> Path:
    """Build ``root/manifest.csv`` for dataset ``name`` unless it exists with the same options; return its path."""
    preparer = _known(name)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise SmartMiningError(f"dataset {name!r}: the data folder {root} is a file; expected a folder (or no path yet)")
    manifest_path, record_path = root / MANIFEST_NAME, root / RECORD_NAME
    record = _record(name, root, options)
    if manifest_path.is_file():
        # Only the identity keys decide; fetch options and notes such as excluded_singleton_classes ride along.
        if _same_data(_read_record(record_path), record, manifest_path, name):
            return manifest_path
    # Drop the record first: a crash mid-way then never leaves a record beside a stale manifest.
    record_path.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    manifest = preparer(root, **{key: value for key, value in options.items() if key not in GENERIC_OPTIONS})
    manifest = _clean(manifest, root, record, f"dataset {name!r} in {root}")
    write_manifest(manifest, manifest_path)
    record["manifest_sha256"] = manifest_digest(read_manifest(manifest_path))
    write_json(record_path, record)
    return manifest_path


def _option_text(value: Any) -> str:
    """A value as ``--option KEY=VALUE`` spells it (the CLI reads VALUE as YAML)."""
    import yaml

    if isinstance(value, str) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)  # JSON is YAML: lists, mappings, null, true/false, quoted strings


def prepare_command(name: str, root: Path, options: dict[str, Any]) -> str:
    """The shell command that prepares ``root`` with exactly these options."""
    words = ["smartmining", "prepare", "--dataset", name, "--out", str(root), "--no-config"]
    for key, value in options.items():
        words += ["--option", f"{key}={_option_text(value)}"]
    return shlex.join(words)


def check_prepared(name: str, root: Path, **options: Any) -> Path:
    """The path of ``root/manifest.csv`` if ``root`` was prepared for ``name`` with these options.

    Never writes. Fetch options are ignored. A missing folder, manifest or record, a record with other
    options, or a manifest changed since it was prepared raises a SmartMiningError naming each differing
    option (prepared value vs needed value) and the command that prepares the folder as needed.
    """
    root = Path(root)
    needed = _record(name, root, options)
    manifest_path, record_path = root / MANIFEST_NAME, root / RECORD_NAME
    how = f"prepare it with: {prepare_command(name, root, options)} (or run the pipeline's prepare rule)"
    stored = _read_record(record_path)
    if not manifest_path.is_file() or stored is None:
        what = "folder" if not root.is_dir() else MANIFEST_NAME if not manifest_path.is_file() else RECORD_NAME
        raise SmartMiningError(f"dataset {name!r} in {root} is not prepared (no readable {what}); {how}")
    differences = [f"{key}: prepared {stored.get(key)!r} vs needed {needed[key]!r}"
                   for key in ("dataset", "version") if stored.get(key) != needed[key]]
    prepared = stored.get("options") if isinstance(stored.get("options"), dict) else {}
    for key in sorted((set(prepared) | set(needed["options"])) - _fetch(name)):
        have, want = prepared.get(key, "<absent>"), needed["options"].get(key, "<absent>")
        if have != want:
            differences.append(f"{key}: prepared {have!r} vs needed {want!r}")
    if differences:
        raise SmartMiningError(f"dataset {name!r} in {root} was prepared with other options ("
                               + "; ".join(differences) + f"); {how}")
    if not _manifest_matches(stored, manifest_path):
        raise SmartMiningError(f"dataset {name!r} in {root}: {MANIFEST_NAME} was changed since it was prepared "
                               f"(its content differs from {RECORD_NAME}'s manifest_sha256); {how}")
    return manifest_path
