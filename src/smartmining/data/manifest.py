"""The dataset manifest: one CSV row per image with its path, class and split.

Every dataset (rendered glyphs, a user's image folder, CUB, Cars, SOP) is reduced to a folder holding
``manifest.csv``; everything downstream reads images only through it.

Splits: "source" (optional; classes to pretrain on), "train", "val" (optional; classes for choosing
hyperparameters, carved out of the training classes) and "test". No class is in two splits.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from smartmining.atomic import atomic_open
from smartmining.errors import SmartMiningError

MANIFEST_COLUMNS = ("path", "label", "class_name", "split", "md5")
SPLITS = ("source", "train", "val", "test")
REQUIRED_SPLITS = ("train", "test")  # "source" and "val" may be absent


def file_md5(path: str | os.PathLike[str]) -> str:
    """The md5 hex digest of a file's bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_classes(
    class_names: list[str], rng_seed: int | None, train_fraction: float = 0.5
) -> tuple[list[str], list[str]]:
    """Split class names into disjoint (train, test) lists.

    ``rng_seed`` None keeps sorted order (the first part trains, as CUB's classes 1-100); otherwise the
    names are shuffled with the seed first.
    """
    if len(set(class_names)) != len(class_names):
        raise SmartMiningError("split_classes: class_names contains duplicates")
    if len(class_names) < 2:
        raise SmartMiningError(f"split_classes: need at least 2 classes, got {len(class_names)}")
    if not 0.0 < train_fraction < 1.0:
        raise SmartMiningError(f"split_classes: train_fraction must be in (0, 1), got {train_fraction}")
    names = sorted(class_names)
    if rng_seed is not None:
        order = np.random.default_rng(rng_seed).permutation(len(names))
        names = [names[i] for i in order]
    # Both halves keep at least one class, whatever the fraction rounds to.
    n_train = min(max(int(round(len(names) * train_fraction)), 1), len(names) - 1)
    return names[:n_train], names[n_train:]


def validate_manifest(df: pd.DataFrame, source: str = "manifest") -> pd.DataFrame:
    """Check columns, dtypes, split values and class-disjoint splits; return a normalised copy."""
    problems: list[str] = []
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise SmartMiningError(f"{source}: missing column(s) {missing}; expected {list(MANIFEST_COLUMNS)}")
    df = df.loc[:, list(MANIFEST_COLUMNS)].copy()
    if len(df) == 0:
        raise SmartMiningError(f"{source}: has no rows")
    for col in ("path", "class_name", "split", "md5"):
        if df[col].isna().any():
            problems.append(f"column {col!r} has empty values (first at row {int(df[col].isna().argmax())})")
    if problems:
        raise SmartMiningError(f"{source}: " + "; ".join(problems))
    labels = pd.to_numeric(df["label"], errors="coerce")
    if labels.isna().any() or (labels != labels.round()).any():
        raise SmartMiningError(f"{source}: column 'label' must hold integers")
    df["label"] = labels.astype(np.int64)
    for col in ("path", "class_name", "split", "md5"):
        df[col] = df[col].astype(str)

    bad_splits = sorted(set(df["split"]) - set(SPLITS))
    if bad_splits:
        problems.append(f"column 'split' has {bad_splits}; expected values in {list(SPLITS)}")
    n_classes = df["label"].nunique()
    if df["label"].min() != 0 or df["label"].max() != n_classes - 1:
        problems.append(f"labels must be contiguous 0..{n_classes - 1}, got {df['label'].min()}..{df['label'].max()}")
    names_per_label = df.groupby("label")["class_name"].nunique()
    labels_per_name = df.groupby("class_name")["label"].nunique()
    if (names_per_label > 1).any() or (labels_per_name > 1).any():
        problems.append("each label must map to exactly one class_name and back")
    split_per_label = df.groupby("label")["split"].nunique()
    shared = split_per_label.index[split_per_label > 1].tolist()
    if shared:
        problems.append(f"splits must be class-disjoint; labels in more than one split: {shared[:10]}")
    if df["path"].duplicated().any():
        problems.append(f"duplicate paths, e.g. {df.loc[df['path'].duplicated(), 'path'].iloc[0]!r}")
    bad_md5 = ~df["md5"].str.fullmatch(r"[0-9a-f]{32}")
    if bad_md5.any():
        problems.append(f"column 'md5' must hold 32 hex digits (row {int(bad_md5.argmax())})")
    if problems:
        raise SmartMiningError(f"{source}: " + "; ".join(problems))
    return df.reset_index(drop=True)


def resolve_path(root: str | os.PathLike[str], path: str) -> Path:
    """A manifest path: relative to the dataset root, or absolute (image-folder datasets)."""
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p


def missing_files(df: pd.DataFrame, root: str | os.PathLike[str]) -> list[str]:
    """The manifest paths (in manifest order) with no regular file behind them under ``root``."""
    return [p for p in df["path"].astype(str) if not resolve_path(root, p).is_file()]


def drop_singleton_classes(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Remove classes with a single image (no positive exists for it); relabel the rest 0..C'-1 in order.

    Returns the new manifest and the removed class names (sorted by their old label).
    """
    counts = df.groupby("label")["path"].size()
    lone = counts.index[counts < 2]
    if len(lone) == 0:
        return df, []
    excluded = df.loc[df["label"].isin(lone)].sort_values("label")["class_name"].astype(str).tolist()
    return relabel(df.loc[~df["label"].isin(lone)]), excluded


def relabel(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with contiguous labels 0..C'-1 again, in the old order (after rows were left out)."""
    kept = df.copy()
    kept["label"] = np.searchsorted(np.unique(kept["label"]), kept["label"]).astype(np.int64)
    return kept.reset_index(drop=True)


def check_split_classes(df: pd.DataFrame, source: str, least: int = 2) -> None:
    """Each split must hold at least ``least`` classes: training needs negatives, evaluation a choice.

    "train" and "test" must be there; "source" and "val" only when present.
    """
    per_split = df.groupby("split")["label"].nunique()
    wanted = [s for s in SPLITS if s in REQUIRED_SPLITS or s in per_split.index]
    per_split = per_split.reindex(wanted, fill_value=0)
    short = {split: int(n) for split, n in per_split.items() if n < least}
    if short:
        raise SmartMiningError(
            f"{source}: each split needs at least {least} classes, got "
            + ", ".join(f"{n} in {split!r}" for split, n in short.items()))


def write_manifest(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Validate and write a manifest CSV atomically."""
    df = validate_manifest(df, source=f"manifest for {path}")
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False)


def read_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a manifest CSV (file existence of the images is not checked)."""
    path = Path(path)
    if not path.is_file():
        raise SmartMiningError(f"manifest {path}: file not found")
    try:
        df = pd.read_csv(path, dtype={"path": str, "class_name": str, "split": str, "md5": str},
                         keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SmartMiningError(f"manifest {path}: not a readable CSV ({exc})") from exc
    return validate_manifest(df, source=f"manifest {path}")


def manifest_digest(df: pd.DataFrame) -> str:
    """What a manifest holds, as one sha256: each row's label, class, split and md5 in order.

    Paths are left out: where the images lie (an archive extracted here, a folder used in place) is not
    what they are; the md5 column is (each image's, or the published archive's)."""
    columns = df.loc[:, ["label", "class_name", "split", "md5"]].astype(str)
    text = "\n".join("\t".join(row) for row in columns.itertuples(index=False, name=None))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
