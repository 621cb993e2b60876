"""Backbone registry: each builder returns (feature extractor, feature dimension), classifier removed.

`pretrained`: False (random initialisation), True (torchvision's ImageNet weights, from the torch hub
cache, downloaded there when the network allows) or a path to a local state_dict file of the
torchvision model (classifier keys included or not).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from smartmining.errors import SmartMiningError

Pretrained = bool | str | os.PathLike
BackboneBuilder = Callable[..., tuple[nn.Module, int]]

BACKBONES: dict[str, BackboneBuilder] = {}


def register_backbone(name: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator adding a builder `(pretrained=False, **options) -> (module, feature_dim)` to BACKBONES."""

    def add(builder: BackboneBuilder) -> BackboneBuilder:
        if name in BACKBONES:
            raise SmartMiningError(f"backbone {name!r} is registered twice")
        BACKBONES[name] = builder
        return builder

    return add


def build_backbone(name: str, pretrained: Pretrained = False, **options: object) -> tuple[nn.Module, int]:
    """Look `name` up in BACKBONES and build it; unknown names and options raise SmartMiningError."""
    if name not in BACKBONES:
        raise SmartMiningError(f"backbone {name!r} is unknown; choices: {', '.join(sorted(BACKBONES))}")
    builder = BACKBONES[name]
    try:
        inspect.signature(builder).bind(pretrained=pretrained, **options)
    except TypeError:
        accepted = [p for p in inspect.signature(builder).parameters if p != "pretrained"]
        raise SmartMiningError(
            f"backbone {name!r}: options {sorted(options)} not accepted; it takes {accepted or 'none'}"
        ) from None
    return builder(pretrained=pretrained, **options)


class ConvNet(nn.Module):
    """Small CPU-profile network: blocks of conv3x3-BN-ReLU-maxpool2, then global average pooling."""

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (32, 64, 128, 256)) -> None:
        super().__init__()
        if in_channels < 1 or not widths or any(w < 1 for w in widths):
            raise SmartMiningError(
                f"convnet: in_channels must be >= 1 and widths a non-empty list of positive ints, "
                f"got in_channels={in_channels}, widths={list(widths)}"
            )
        layers: list[nn.Module] = []
        previous = in_channels
        for width in widths:
            layers += [
                nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            previous = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


@register_backbone("convnet")
def build_convnet(
    pretrained: Pretrained = False, in_channels: int = 3, widths: Sequence[int] = (32, 64, 128, 256)
) -> tuple[nn.Module, int]:
    """The CPU profile's ConvNet [ours]; no ImageNet weights exist for it, a local state_dict may be given."""
    if pretrained is True:
        raise SmartMiningError("backbone 'convnet' has no ImageNet weights: set pretrained to false or a file path")
    model = ConvNet(in_channels, tuple(int(w) for w in widths))
    if pretrained:
        _load_into(model, _read_state_dict(Path(pretrained)), str(pretrained), optional_prefixes=())
    return model, model.out_dim


@register_backbone("googlenet")
def build_googlenet(pretrained: Pretrained = False) -> tuple[nn.Module, int]:
    """torchvision GoogLeNet (the paper's; batch norm is torchvision's [deviation]); output: pool5 after dropout."""
    import torchvision  # seconds to import: only where a torchvision network is built

    weights = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1
    state = _pretrained_state(pretrained, weights)
    # The ImageNet files carry the auxiliary classifiers; build them to load strictly, then drop them.
    with_aux = state is not None and any(key.startswith("aux1.") for key in state)
    # torchvision's port of the Caffe weights expects its own input rescaling (transform_input).
    # Random initialisation is PyTorch's default: torchvision's truncated-normal init takes seconds.
    model = torchvision.models.googlenet(
        weights=None, aux_logits=with_aux, init_weights=False, transform_input=state is not None
    )
    if state is not None:
        _load_into(model, state, _source(pretrained, weights), optional_prefixes=("fc.", "aux1.", "aux2."))
    model.aux_logits = False
    model.aux1 = None
    model.aux2 = None
    model.fc = nn.Identity()
    return model, 1024


@register_backbone("resnet18")
def build_resnet18(pretrained: Pretrained = False) -> tuple[nn.Module, int]:
    """torchvision ResNet-18 with fc -> Identity (512-d pooled features)."""
    import torchvision  # seconds to import: only where a torchvision network is built

    return _resnet(torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1, pretrained)


@register_backbone("resnet50")
def build_resnet50(pretrained: Pretrained = False) -> tuple[nn.Module, int]:
    """torchvision ResNet-50 with fc -> Identity (2048-d pooled features)."""
    import torchvision  # seconds to import: only where a torchvision network is built

    return _resnet(torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V1, pretrained)


def _resnet(
    constructor: Callable[..., torchvision.models.ResNet], weights: torchvision.models.WeightsEnum, pretrained: Pretrained
) -> tuple[nn.Module, int]:
    model = constructor(weights=None)
    state = _pretrained_state(pretrained, weights)
    if state is not None:
        _load_into(model, state, _source(pretrained, weights), optional_prefixes=("fc.",))
    feature_dim = model.fc.in_features
    model.fc = nn.Identity()
    return model, feature_dim


class MobileNetV2Features(nn.Module):
    """torchvision MobileNetV2's feature blocks and global average pooling (1280-d), the first
    ``frozen_blocks`` of them frozen: no gradient, and batch norm kept in eval mode (its ImageNet
    statistics), so fine-tuning on a CPU pays for the backward pass of the later blocks only."""

    def __init__(self, features: nn.Sequential, frozen_blocks: int = 0) -> None:
        super().__init__()
        if not 0 <= frozen_blocks <= len(features):
            raise SmartMiningError(
                f"mobilenet_v2: frozen_blocks must be between 0 and {len(features)}, got {frozen_blocks!r}"
            )
        self.features = features  # torchvision's names, so its state_dict files load as they are
        self.frozen_blocks = frozen_blocks
        self.takes_trunk_output = False  # True: inputs are the frozen blocks' outputs (model.cache_frozen)
        for parameter in features[:frozen_blocks].parameters():
            parameter.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> MobileNetV2Features:
        super().train(mode)
        self.features[: self.frozen_blocks].eval()  # a frozen block keeps its ImageNet batch-norm statistics
        return self

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen blocks' output (what the features stage caches)."""
        with torch.no_grad():
            return self.features[: self.frozen_blocks](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.takes_trunk_output:
            x = self.trunk(x)
        x = self.features[self.frozen_blocks :](x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


@register_backbone("mobilenet_v2")
def build_mobilenet_v2(pretrained: Pretrained = False, frozen_blocks: int = 0) -> tuple[nn.Module, int]:
    """torchvision MobileNetV2 (ImageNet weights: MobileNet_V2_Weights.IMAGENET1K_V1), classifier removed;
    1280-d pooled features. ``frozen_blocks`` [ours]: how many of its 19 feature blocks stay as pretrained."""
    import torchvision  # seconds to import: only where a torchvision network is built

    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    model = torchvision.models.mobilenet_v2(weights=None)
    state = _pretrained_state(pretrained, weights)
    if state is not None:
        _load_into(model, state, _source(pretrained, weights), optional_prefixes=("classifier.",))
    return MobileNetV2Features(model.features, int(frozen_blocks)), model.last_channel


def weights_cache_file(weights: torchvision.models.WeightsEnum) -> Path:
    """Where torch hub keeps (or would download) a torchvision weights file."""

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _pretrained_state(pretrained: Pretrained, weights: torchvision.models.WeightsEnum) -> dict | None:
    if pretrained is False or pretrained is None:
        return None
    if pretrained is not True:
        return _read_state_dict(Path(pretrained))
    cached = weights_cache_file(weights)
    if cached.is_file():
        return _read_state_dict(cached)
    try:
        return torch.hub.load_state_dict_from_url(
            weights.url, model_dir=str(cached.parent), progress=False, check_hash=True, weights_only=True
        )
    except Exception as exc:  # no network, refused, bad hash: all end in the same advice
        raise SmartMiningError(
            f"ImageNet weights {cached.name} are not in the torch hub cache {cached.parent} and could not be "
            f"downloaded from {weights.url} ({type(exc).__name__}: {exc}). Put that file into {cached.parent} "
            f"(or set TORCH_HOME), or pass a local state_dict file path as `pretrained`."
        ) from exc


def _read_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise SmartMiningError(f"pretrained weights file {path} does not exist: give a torchvision state_dict file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SmartMiningError(f"pretrained weights file {path} could not be read as a state_dict: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise SmartMiningError(f"pretrained weights file {path} does not hold a state_dict (name -> tensor)")
    return state


def _load_into(model: nn.Module, state: dict, source: str, optional_prefixes: tuple[str, ...]) -> None:
    """Load `state` into `model`; only keys under `optional_prefixes` (classifier heads) may be missing."""
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise SmartMiningError(f"pretrained weights {source} do not fit this backbone: {exc}") from exc
    missing = [k for k in result.missing_keys if not k.startswith(optional_prefixes)]
    if missing or result.unexpected_keys:
        raise SmartMiningError(
            f"pretrained weights {source} do not fit this backbone: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]} (of {len(missing)} and {len(result.unexpected_keys)})"
        )


def _source(pretrained: Pretrained, weights: torchvision.models.WeightsEnum) -> str:
    return str(weights_cache_file(weights).name) if pretrained is True else str(pretrained)
