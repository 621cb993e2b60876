"""Datasets: manifests, the embedded glyph dataset, image folders, loading and transforms.

``images`` and ``transforms`` import torch, so they are not imported here.
"""

from __future__ import annotations

from smartmining.data.manifest import MANIFEST_COLUMNS, file_md5, read_manifest, split_classes, write_manifest
from smartmining.data.registry import DATASETS, available_datasets, prepare_dataset, register_dataset

__all__ = [
    "DATASETS",
    "MANIFEST_COLUMNS",
    "available_datasets",
    "file_md5",
    "prepare_dataset",
    "read_manifest",
    "register_dataset",
    "split_classes",
    "write_manifest",
]
