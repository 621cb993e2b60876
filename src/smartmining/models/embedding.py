"""The embedding network f(x): backbone, a new linear layer to m dimensions, L2 normalisation (PAPER.md section 1)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from smartmining.errors import SmartMiningError
from smartmining.models.backbones import Pretrained, build_backbone


class EmbeddingNet(nn.Module):
    """f(x) = normalise(W * backbone(x) + b), so that ||f(x)|| = 1."""

    def __init__(self, backbone: nn.Module, feature_dim: int, embedding_dim: int = 64) -> None:
        super().__init__()
        if embedding_dim < 1:
            raise SmartMiningError(f"embedding_dim must be an integer >= 1, got {embedding_dim!r}")
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, embedding_dim)  # new layer, randomly initialised [paper]
        self.feature_dim = feature_dim
        self.embedding_dim = embedding_dim

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.head(self.backbone(x)), p=2.0, dim=1)

    def param_groups(self, base_lr: float, head_lr_mult: float = 10.0, weight_decay: float = 0.0) -> list[dict]:
        """Optimiser parameter groups: the backbone at base_lr, the new head at base_lr * head_lr_mult."""
        if not base_lr > 0 or not head_lr_mult > 0 or not weight_decay >= 0:
            raise SmartMiningError(
                f"param_groups: base_lr and head_lr_mult must be > 0 and weight_decay >= 0, got "
                f"{base_lr!r}, {head_lr_mult!r}, {weight_decay!r}"
            )
        return [
            {"name": "backbone", "params": list(self.backbone.parameters()), "lr": base_lr,
             "weight_decay": weight_decay},
            {"name": "head", "params": list(self.head.parameters()), "lr": base_lr * head_lr_mult,
             "weight_decay": weight_decay},
        ]


def build_model(name: str, embedding_dim: int = 64, pretrained: Pretrained = False, **backbone_kwargs: object) -> EmbeddingNet:
    """Backbone `name` from the registry (unknown names raise SmartMiningError) with an m-dimensional head."""
    backbone, feature_dim = build_backbone(name, pretrained=pretrained, **backbone_kwargs)
    return EmbeddingNet(backbone, feature_dim, embedding_dim)


def embed(
    model: nn.Module,
    images: Tensor,
    transform: Callable[[Tensor], Tensor] | None = None,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Embeddings (N, m) float32 of uint8 images (N, C, H, W), in eval mode without gradients, chunk by chunk.

    `transform` maps a uint8 batch (N, C, H, W), already on `device`, to the network's float input
    (data.batch_transforms.BatchTransform); None scales to [0, 1]. `device` defaults to the model's; its training mode is restored.
    """
    if images.ndim != 4 or (images.dtype != torch.uint8 and transform is None):
        raise SmartMiningError(
            f"embed: images must be a uint8 tensor (N, C, H, W) (or any 4-d tensor with a transform), "
            f"got {images.dtype} {tuple(images.shape)}"
        )
    if batch_size < 1:
        raise SmartMiningError(f"embed: batch_size must be >= 1, got {batch_size!r}")
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks: list[np.ndarray] = []
    try:
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                chunk = images[start : start + batch_size].to(device, non_blocking=True)
                batch = transform(chunk) if transform else chunk.float() / 255.0
                chunks.append(model(batch).float().cpu().numpy())
    finally:
        model.train(was_training)
    if not chunks:
        return np.zeros((0, getattr(model, "embedding_dim", 0)), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
