"""The streaming data path: a split's images as a uint8 file on disk, read per batch, for sets above the budget.

Held in memory, a split is one uint8 tensor (N, C, S, S); at 256 x 256 x 3 SOP's 120,053 images take
about 23 GB. Above ``train.max_memory_gb`` the job instead decodes each split once, image by image, into
a raw uint8 file of the same layout (``DATA_DIR/arrays/``, a cache derived from the prepared data, built
by the first run that needs it and reused by every later one), and ``DiskImages`` reads the rows a batch
needs with ``os.pread``: the bytes are those the in-memory path holds, so batches and results are the
same for a seed, and the process keeps only the batch (the page cache is the kernel's, not the run's).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from smartmining.atomic import atomic_path, write_json
from smartmining.data.decode import DECODE_ERRORS, bad_files_message, read_image
from smartmining.data.images import LoadedSplit
from smartmining.data.manifest import resolve_path
from smartmining.errors import SmartMiningError

ARRAY_DIR = "arrays"


def split_bytes(manifest: pd.DataFrame, splits: tuple[str, ...], size: int, channels: int) -> int:
    """Bytes the in-memory path would hold for ``splits`` at the input size."""
    return int(manifest["split"].isin(splits).sum()) * channels * size * size


class DiskImages:
    """A read-only stand-in for a uint8 image tensor (N, C, S, S) kept in a raw file: ``x[i]``, ``x[a:b]``
    and ``x[index_array]`` return uint8 tensors read from disk, in the order asked."""

    dtype = torch.uint8
    ndim = 4

    def __init__(self, path: Path, shape: tuple[int, int, int, int]) -> None:
        self.path, self.shape = Path(path), tuple(int(s) for s in shape)
        self.item = int(np.prod(self.shape[1:]))
        expected = self.shape[0] * self.item
        if self.path.stat().st_size != expected:
            raise SmartMiningError(f"{self.path}: {self.path.stat().st_size} bytes, expected {expected} for "
                                   f"{self.shape}; remove it and the job builds it again")
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict[str, Any]:  # worker processes open their own descriptor
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def _rows(self, start: int, count: int) -> np.ndarray:
        data = os.pread(self._file(), count * self.item, start * self.item)
        return np.frombuffer(data, dtype=np.uint8).reshape(count, *self.shape[1:])

    def __getitem__(self, index: Any) -> torch.Tensor:
        n = self.shape[0]
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return self[np.arange(start, stop, step)]
            return torch.from_numpy(self._rows(start, max(0, stop - start)).copy())
        if isinstance(index, (int, np.integer)):
            return self[np.array([int(index)])][0]
        idx = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for {n} images")
        idx = np.where(idx < 0, idx + n, idx)
        out = np.empty((len(idx), *self.shape[1:]), dtype=np.uint8)
        order = np.argsort(idx, kind="stable")  # read in file order, runs of neighbours at once
        sorted_idx = idx[order]
        breaks = np.flatnonzero(np.diff(sorted_idx) != 1) + 1
        for run in np.split(np.arange(len(idx)), breaks):
            if run.size:
                out[order[run]] = self._rows(int(sorted_idx[run[0]]), len(run))
        return torch.from_numpy(out)


def _fingerprint(rows: pd.DataFrame, size: int, channels: int, skip_bad: bool) -> str:
    text = json.dumps([rows["path"].astype(str).tolist(), rows["label"].astype(int).tolist(), size, channels, skip_bad])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_array(rows: pd.DataFrame, root: Path, dest: Path, *, size: int, channels: int, skip_bad: bool,
                list_limit: int = 10) -> list[str]:
    """Decode ``rows`` (one split, manifest order) into the raw file ``dest``, one image at a time; the
    paths left out as missing or unreadable (an error unless ``skip_bad``, as in load_images_checked)."""
    bad: list[str] = []
    missing: list[str] = []
    unreadable: list[str] = []
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        for rel in rows["path"].astype(str):
            path = resolve_path(root, rel)
            if not path.is_file():
                missing.append(str(path))
                bad.append(rel)
                continue
            try:
                fh.write(read_image(path, size=size, channels=channels).tobytes())
            except DECODE_ERRORS as exc:
                unreadable.append(f"{path} ({type(exc).__name__}: {exc})")
                bad.append(rel)
        if bad:
            message = (f"streaming {dest.name}: " + bad_files_message(Path(root), missing, unreadable, list_limit)
                       + "\nRepair or remove these files and prepare the dataset again, or set train.skip_bad_images.")
            if not skip_bad:
                raise SmartMiningError(message)
            warnings.warn(f"skip_bad_images: skipping {len(bad)} of {len(rows)} images. {message}", stacklevel=2)
    return bad


def disk_split(manifest: pd.DataFrame, root: Path, split: str, *, size: int, channels: int,
               skip_bad: bool = False) -> LoadedSplit:
    """One split as a LoadedSplit whose images are a DiskImages; the file is built on first use."""
    rows = manifest[manifest["split"] == split]
    if len(rows) == 0:
        raise SmartMiningError(f"load_images: the manifest has no {split!r} images")
    key = _fingerprint(rows, size, channels, skip_bad)
    folder = Path(root) / ARRAY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    dest, record_path = folder / f"{split}-{size}px-{channels}c-{key}.u8", folder / f"{split}-{size}px-{channels}c-{key}.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() and dest.is_file() else None
    if record is None:
        record = {"split": split, "skipped": build_array(rows, root, dest, size=size, channels=channels, skip_bad=skip_bad)}
        write_json(record_path, record)  # last: its presence marks a complete file
    skipped = set(record["skipped"])
    keep = ~rows["path"].astype(str).isin(skipped).to_numpy()
    labels = rows["label"].to_numpy(dtype=np.int64)[keep]
    if skipped and np.unique(labels).size < 2:
        raise SmartMiningError(f"load_images ({split!r} split): after skipping {len(skipped)} bad image(s), "
                               f"{np.unique(labels).size} class(es) are left; at least 2 are needed")
    images = DiskImages(dest, (int(keep.sum()), channels, size, size))
    paths = rows["path"].astype(str).tolist()
    return LoadedSplit(images, labels, [p for p, k in zip(paths, keep) if k], [p for p, k in zip(paths, keep) if not k])
