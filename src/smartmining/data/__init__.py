"""Datasets: manifests, the embedded glyph dataset, image folders, the paper's datasets, loading and transforms.

Importing this package imports the dataset modules, which register their preparers into
``registry`` (which imports none of them). ``images`` and ``transforms`` import torch, so they are
not imported here.
"""

from __future__ import annotations

from smartmining.data import cars196, glyphs, imagefolder, omniglot, paper_datasets  # noqa: F401  (they register)
from smartmining.data.manifest import MANIFEST_COLUMNS, file_md5, read_manifest, split_classes, write_manifest
from smartmining.data.registry import (DATASETS, available_datasets, check_prepared, prepare_dataset,
                                       register_dataset)

__all__ = [
    "DATASETS",
    "MANIFEST_COLUMNS",
    "available_datasets",
    "check_prepared",
    "file_md5",
    "prepare_dataset",
    "read_manifest",
    "register_dataset",
    "split_classes",
    "write_manifest",
]
