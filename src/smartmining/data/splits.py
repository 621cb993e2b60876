"""Validation classes carved out of the training classes (PAPER.md section 10: selection on validation
classes only). Pure: a manifest in, a manifest out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smartmining.errors import SmartMiningError


def choose_val_labels(train_labels: np.ndarray, val_classes: int, val_seed: int) -> np.ndarray:
    """``val_classes`` of the distinct training labels, chosen with ``val_seed`` (sorted)."""
    labels = np.unique(np.asarray(train_labels, dtype=np.int64))
    chosen = np.random.default_rng([val_seed, 0x7A1]).choice(labels.size, size=val_classes, replace=False)
    return np.sort(labels[chosen])


def carve_val_classes(manifest: pd.DataFrame, val_classes: int, val_seed: int = 0,
                      source: str = "manifest") -> pd.DataFrame:
    """A copy of the manifest with ``val_classes`` training classes moved to split "val".

    Labels, paths and the other splits are unchanged. ``val_classes`` is 0 or at least 2, and at least
    two classes must stay in "train".
    """
    if isinstance(val_classes, bool) or not isinstance(val_classes, (int, np.integer)) or val_classes < 0:
        raise SmartMiningError(f"{source}: val_classes must be an integer >= 0, got {val_classes!r}")
    if isinstance(val_seed, bool) or not isinstance(val_seed, (int, np.integer)):
        raise SmartMiningError(f"{source}: val_seed must be an integer, got {val_seed!r}")
    out = manifest.copy()
    if val_classes == 0:
        return out
    if val_classes == 1:
        raise SmartMiningError(f"{source}: val_classes must be 0 or at least 2 (choosing needs negatives), got 1")
    if (out["split"] == "val").any():
        raise SmartMiningError(f"{source}: already has a 'val' split; val_classes={val_classes} would add to it")
    train = out["split"] == "train"
    n_train = int(out.loc[train, "label"].nunique())
    if n_train - val_classes < 2:
        raise SmartMiningError(
            f"{source}: val_classes={val_classes} would leave {max(n_train - val_classes, 0)} of the {n_train} "
            f"training classes to train; at least 2 must stay (lower val_classes)")
    chosen = choose_val_labels(out.loc[train, "label"].to_numpy(), int(val_classes), int(val_seed))
    out.loc[train & out["label"].isin(chosen), "split"] = "val"
    return out


# Splits whose classes a seed may redraw; "source" classes (the pretrain stage's) never move.
REDRAWN_SPLITS = ("train", "val", "test")


def redraw_split(manifest: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A copy of the manifest whose train/val/test classes are redrawn with ``seed`` (PAPER.md section 10:
    each seed redraws the class split), keeping the number of classes of each split.

    Classes move only within their ``pool`` (a manifest column, where the dataset has one: Omniglot's
    background and evaluation alphabets, so test classes stay in alphabets never trained on); without the
    column all train/val/test classes form one pool. Source classes and every image's label stay as they are.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SmartMiningError(f"redraw_split: seed must be an integer >= 0, got {seed!r}")
    out = manifest.copy()
    moving = out["split"].isin(REDRAWN_SPLITS)
    pools = out["pool"] if "pool" in out.columns else pd.Series("all", index=out.index)
    rng = np.random.default_rng([int(seed), 0x5E1D])
    for pool in sorted(pools[moving].unique()):
        rows = moving & (pools == pool)
        by_class = out.loc[rows].groupby("label")["split"].first()
        # the pool's split sizes in classes, in a fixed order; then its classes in a seeded order fill them
        sizes = [(split, int((by_class == split).sum())) for split in REDRAWN_SPLITS]
        order = by_class.index.to_numpy()[rng.permutation(len(by_class))]
        new_split, start = {}, 0
        for split, size in sizes:
            new_split.update({label: split for label in order[start:start + size]})
            start += size
        out.loc[rows, "split"] = out.loc[rows, "label"].map(new_split)
    return out
