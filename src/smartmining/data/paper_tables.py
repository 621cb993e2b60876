"""The paper's datasets' annotation tables, class splits and published counts (PAPER.md section 7).

The readers turn each release's annotation files into one table (rel, class_id, class_name, split);
the rest are pure functions on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from smartmining.errors import SmartMiningError

CUB_LAST_TRAIN_CLASS = 100  # classes 1-100 train, 101-200 test
CARS_LAST_TRAIN_CLASS = 98  # classes 1-98 train, 99-196 test

COUNT_KEYS = ("images", "classes", "train_images", "test_images", "train_classes", "test_classes")
PAPER_COUNTS: dict[str, dict[str, int]] = {
    "cub200": dict(images=11_788, classes=200, train_images=5_864, test_images=5_924,
                   train_classes=100, test_classes=100),
    "cars196": dict(images=16_185, classes=196, train_images=8_054, test_images=8_131,
                    train_classes=98, test_classes=98),
    "sop": dict(images=120_053, classes=22_634, train_images=59_551, test_images=60_502,
                train_classes=11_318, test_classes=11_316),
}


def split_by_class_id(class_ids: Sequence[int] | np.ndarray, last_train_class: int) -> np.ndarray:
    """'train' for class ids 1..last_train_class, 'test' above (CUB: 100, Cars196: 98)."""
    ids = np.asarray(class_ids, dtype=np.int64)
    if ids.size and ids.min() < 1:
        raise SmartMiningError(f"class ids start at 1, got {int(ids.min())}")
    return np.where(ids <= last_train_class, "train", "test")


def contiguous_labels(class_ids: Sequence[int] | np.ndarray, splits: Sequence[str] | np.ndarray) -> np.ndarray:
    """Labels 0..C-1 with the train classes first, each split in class-id order."""
    ids, splits = np.asarray(class_ids, dtype=np.int64), np.asarray(splits)
    if ids.shape != splits.shape:
        raise SmartMiningError(f"class_ids and splits differ in length: {ids.shape} vs {splits.shape}")
    pairs = pd.DataFrame({"id": ids, "test": splits == "test"}).drop_duplicates()
    both = pairs["id"][pairs["id"].duplicated()]
    if len(both):
        raise SmartMiningError(f"class id(s) {sorted(both.unique().tolist())[:10]} appear in both train and test")
    order = pairs.sort_values(["test", "id"])["id"].to_numpy()
    return pd.Series(np.arange(len(order)), index=order).loc[ids].to_numpy()


def count_summary(class_ids: Sequence[int] | np.ndarray, splits: Sequence[str] | np.ndarray) -> dict[str, int]:
    """Images and classes, in all and per split (the keys of COUNT_KEYS)."""
    ids, splits = np.asarray(class_ids), np.asarray(splits)
    train = splits == "train"
    return {"images": int(ids.size), "classes": int(np.unique(ids).size),
            "train_images": int(train.sum()), "test_images": int((~train).sum()),
            "train_classes": int(np.unique(ids[train]).size), "test_classes": int(np.unique(ids[~train]).size)}


def resolve_expected(expected: dict[str, int] | None, dataset: str) -> dict[str, int]:
    """The counts to check: the paper's for None, else the given ones ({} checks nothing)."""
    if expected is None:
        return dict(PAPER_COUNTS[dataset])
    if not isinstance(expected, dict):
        raise SmartMiningError(f"{dataset}: expected must be a mapping of counts, got {expected!r}")
    unknown = sorted(set(expected) - set(COUNT_KEYS))
    if unknown:
        raise SmartMiningError(f"{dataset}: expected has unknown key(s) {unknown}; known: {list(COUNT_KEYS)}")
    bad = {k: v for k, v in expected.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0}
    if bad:
        raise SmartMiningError(f"{dataset}: expected counts must be non-negative integers, got {bad}")
    return dict(expected)


def check_counts(counts: dict[str, int], expected: dict[str, int], dataset: str) -> None:
    """Stop with every mismatch listed when the counts differ from the expected ones."""
    wrong = [f"{key.replace('_', ' ')}: found {counts[key]:,}, expected {want:,}"
             for key, want in expected.items() if counts[key] != want]
    if wrong:
        raise SmartMiningError(
            f"{dataset}: the data does not match the published counts (PAPER.md section 7):\n  "
            + "\n  ".join(wrong)
            + "\nThe archive or folder is incomplete or another release. Download it again, or pass "
              "--option expected='{...}' with the counts to accept ({} checks none).")


# --- the annotation tables ------------------------------------------------------------------------

def _read_table(path: Path, names: list[str], header: bool = False) -> pd.DataFrame:
    """A space-separated annotation file, with a clear error naming it."""
    if not path.is_file():
        raise SmartMiningError(f"{path}: file not found")
    try:
        table = pd.read_csv(path, sep=" ", header=0 if header else None, names=None if header else names,
                            dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SmartMiningError(f"{path}: not readable as space-separated columns {names} ({exc})") from exc
    if list(table.columns) != names or len(table) == 0 or (table == "").to_numpy().any():
        raise SmartMiningError(f"{path}: expected rows of {names}, got columns {list(table.columns)}, "
                               f"{len(table)} row(s)")
    return table


def _int_column(table: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce")
    if values.isna().any() or (values != values.round()).any():
        raise SmartMiningError(f"{path}: column {column!r} must hold integers")
    return values.to_numpy(dtype=np.int64)


def read_cub(folder: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """CUB_200_2011's image table (rel, class_id, class_name, split) and boxes (left, top, right, bottom)."""
    images = _read_table(folder / "images.txt", ["image_id", "rel"])
    labels = _read_table(folder / "image_class_labels.txt", ["image_id", "class_id"])
    classes = _read_table(folder / "classes.txt", ["class_id", "class_name"])
    boxes = _read_table(folder / "bounding_boxes.txt", ["image_id", "x", "y", "width", "height"])
    table = images.merge(labels, on="image_id", how="left", validate="one_to_one")
    if table["class_id"].isna().any():
        raise SmartMiningError(f"{folder / 'image_class_labels.txt'}: no class for image id(s) "
                               f"{table.loc[table['class_id'].isna(), 'image_id'].tolist()[:5]}")
    table["class_id"] = _int_column(table, "class_id", folder / "image_class_labels.txt")
    names = dict(zip(_int_column(classes, "class_id", folder / "classes.txt"), classes["class_name"], strict=True))
    unknown = sorted(set(table["class_id"]) - set(names))
    if unknown:
        raise SmartMiningError(f"{folder / 'classes.txt'}: class id(s) {unknown[:5]} are not listed")
    table["class_name"] = table["class_id"].map(names)
    table["split"] = split_by_class_id(table["class_id"], CUB_LAST_TRAIN_CLASS)
    table["rel"] = "images/" + table["rel"]
    box = table[["image_id"]].merge(boxes, on="image_id", how="left", validate="one_to_one")
    if (box[["x", "y", "width", "height"]].isna()).any().any():
        raise SmartMiningError(f"{folder / 'bounding_boxes.txt'}: not every image has a box")
    xywh = box[["x", "y", "width", "height"]].astype(np.float64).to_numpy()
    corners = np.column_stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]])
    return table[["rel", "class_id", "class_name", "split"]], corners


def read_cars_annotations(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """cars_annos.mat's image table (rel, class_id, class_name, split by class id; ``test`` ignored) and boxes."""
    from scipy.io import loadmat  # scipy.io takes a third of a second to import

    try:
        mat = loadmat(path, squeeze_me=True)
        annotations, class_names = np.atleast_1d(mat["annotations"]), np.atleast_1d(mat["class_names"])
        fields = {f: annotations[f] for f in ("relative_im_path", "class", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")}
    except (ValueError, KeyError, TypeError, OSError, NotImplementedError) as exc:
        raise SmartMiningError(f"{path}: not a Cars196 cars_annos.mat with annotations(relative_im_path, bbox_x1, "
                               f"bbox_y1, bbox_x2, bbox_y2, class) and class_names ({type(exc).__name__}: {exc})"
                               ) from exc
    class_ids = fields["class"].astype(np.int64)
    names = [str(n) for n in class_names]
    if class_ids.min() < 1 or class_ids.max() > len(names):
        raise SmartMiningError(f"{path}: class ids must lie in 1..{len(names)} (class_names), got "
                               f"{class_ids.min()}..{class_ids.max()}")
    if len(set(names)) != len(names):
        raise SmartMiningError(f"{path}: class_names has duplicates")
    table = pd.DataFrame({"rel": [str(p) for p in fields["relative_im_path"]], "class_id": class_ids,
                          "class_name": [names[i - 1] for i in class_ids],
                          "split": split_by_class_id(class_ids, CARS_LAST_TRAIN_CLASS)})
    # MATLAB's inclusive 1-based corners: pixels x1..x2 are columns x1-1..x2-1, i.e. PIL's box (x1-1, y1-1, x2, y2).
    boxes = np.column_stack([fields["bbox_x1"].astype(np.float64) - 1, fields["bbox_y1"].astype(np.float64) - 1,
                             fields["bbox_x2"].astype(np.float64), fields["bbox_y2"].astype(np.float64)])
    return table, boxes


def read_sop(folder: Path) -> pd.DataFrame:
    """Stanford_Online_Products' image table (rel, class_id, class_name, split) from Ebay_train/test.txt."""
    parts = []
    for split in ("train", "test"):
        path = folder / f"Ebay_{split}.txt"
        part = _read_table(path, ["image_id", "class_id", "super_class_id", "path"], header=True)
        parts.append(pd.DataFrame({"rel": part["path"], "class_id": _int_column(part, "class_id", path),
                                   "split": split}))
    table = pd.concat(parts, ignore_index=True)
    return table.assign(class_name=table["class_id"].astype(str))[["rel", "class_id", "class_name", "split"]]


def _mat_annotations(path: Path, fields: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    from scipy.io import loadmat

    try:
        annotations = np.atleast_1d(loadmat(path, squeeze_me=True)["annotations"])
        return {f: np.atleast_1d(annotations[f]) for f in fields}
    except (ValueError, KeyError, TypeError, OSError, NotImplementedError) as exc:
        raise SmartMiningError(f"{path}: not {what} with annotations({', '.join(fields)}) "
                               f"({type(exc).__name__}: {exc})") from exc


def read_cars_devkit(train_annos: Path, test_annos: Path, meta: Path, train_dir: str,
                     test_dir: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The devkit layout (Kaggle's copies): cars_train_annos.mat, cars_test_annos_withlabels.mat and cars_meta.mat
    as one image table (rel = ``<train_dir>/<fname>`` or ``<test_dir>/<fname>``; split by class id) and boxes."""
    from scipy.io import loadmat

    try:
        names = [str(n) for n in np.atleast_1d(loadmat(meta, squeeze_me=True)["class_names"])]
    except (ValueError, KeyError, TypeError, OSError, NotImplementedError) as exc:
        raise SmartMiningError(f"{meta}: not a Cars196 cars_meta.mat with class_names ({exc})") from exc
    fields = ("fname", "class", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")
    parts = []
    for path, folder in ((train_annos, train_dir), (test_annos, test_dir)):
        got = _mat_annotations(path, fields, "a Cars196 devkit annotation file (the test one with labels)")
        parts.append({f: (np.array([f"{folder}/{n}" for n in got[f]]) if f == "fname" else got[f]) for f in fields})
    joined = {f: np.concatenate([p[f] for p in parts]) for f in fields}
    class_ids = joined["class"].astype(np.int64)
    if class_ids.min() < 1 or class_ids.max() > len(names):
        raise SmartMiningError(f"{meta}: class ids of the annotations must lie in 1..{len(names)} (class_names)")
    table = pd.DataFrame({"rel": joined["fname"], "class_id": class_ids,
                          "class_name": [names[i - 1] for i in class_ids],
                          "split": split_by_class_id(class_ids, CARS_LAST_TRAIN_CLASS)})
    boxes = np.column_stack([joined["bbox_x1"].astype(np.float64) - 1, joined["bbox_y1"].astype(np.float64) - 1,
                             joined["bbox_x2"].astype(np.float64), joined["bbox_y2"].astype(np.float64)])
    return table, boxes
