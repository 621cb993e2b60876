"""Each seed redraws which classes train, validate and test (PAPER.md section 10), against a by-hand oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smartmining.data.splits import redraw_split
from smartmining.errors import SmartMiningError


def manifest(pools: bool = False) -> pd.DataFrame:
    rows = []
    splits = ["train"] * 6 + ["val"] * 2 + ["test"] * 4 + ["source"] * 3
    for label, split in enumerate(splits):
        for j in range(3):
            row = {"path": f"{label}/{j}.png", "label": label, "class_name": f"c{label}", "split": split, "md5": "0" * 32}
            if pools:
                row["pool"] = "evaluation" if split == "test" else ("source" if split == "source" else "background")
            rows.append(row)
    return pd.DataFrame(rows)


def classes_of(df: pd.DataFrame) -> dict[str, set[int]]:
    return {s: set(df.loc[df["split"] == s, "label"]) for s in ("train", "val", "test", "source")}


def test_sizes_kept_class_disjoint_source_fixed_and_seeds_differ():
    base = manifest()
    seen = set()
    for seed in range(6):
        out = redraw_split(base, seed)
        got = classes_of(out)
        assert {s: len(c) for s, c in got.items()} == {"train": 6, "val": 2, "test": 4, "source": 3}
        assert got["source"] == {12, 13, 14}
        assert out.groupby("label")["split"].nunique().max() == 1  # whole classes move
        assert (out[["path", "label", "class_name", "md5"]] == base[["path", "label", "class_name", "md5"]]).all().all()
        seen.add(frozenset(got["test"]))
        assert redraw_split(base, seed).equals(out)  # a seed always gives the same split
    assert len(seen) >= 4  # the test classes really change with the seed


def test_pools_keep_test_classes_in_their_own_pool():
    base = manifest(pools=True)
    for seed in range(5):
        got = classes_of(redraw_split(base, seed))
        assert got["test"] == {8, 9, 10, 11}  # the evaluation pool holds exactly the test classes
        assert got["train"] | got["val"] == set(range(8)) and len(got["val"]) == 2
    assert len({frozenset(classes_of(redraw_split(base, s))["val"]) for s in range(8)}) > 1


def test_every_class_equally_likely_to_test():
    counts = np.zeros(12)
    for seed in range(600):
        for label in classes_of(redraw_split(manifest(), seed))["test"]:
            counts[label] += 1
    assert np.allclose(counts / 600, 4 / 12, atol=0.07)


def test_bad_seed_is_named():
    with pytest.raises(SmartMiningError, match="seed must be an integer >= 0"):
        redraw_split(manifest(), -1)
