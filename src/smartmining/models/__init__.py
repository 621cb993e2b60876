"""Networks: the backbone registry and the L2-normalised embedding network built on it."""

from __future__ import annotations

from smartmining.models.backbones import BACKBONES, ConvNet, build_backbone, register_backbone, weights_cache_file
from smartmining.models.embedding import EmbeddingNet, build_model, embed

__all__ = [
    "BACKBONES",
    "ConvNet",
    "EmbeddingNet",
    "build_backbone",
    "build_model",
    "embed",
    "register_backbone",
    "weights_cache_file",
]
