"""Image transforms built from a profile's plain ``transform`` dict (params.yaml).

Example specs::

    # CPU glyphs: images already at size; a mild random resized crop for training
    {"size": 48, "channels": 1,
     "train_augment": {"random_resized_crop_scale": [0.8, 1.0], "hflip": False},
     "normalize": {"mean": [0.5], "std": [0.5]}}
    # The paper (as Lifted Structure): resize 256, random 227 crop + flip; centre crop for testing
    {"resize": 256, "size": 227, "channels": 3,
     "train_augment": {"random_crop": True, "hflip": True},
     "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from smartmining.errors import SmartMiningError

SPEC_KEYS = {"size", "channels", "resize", "train_augment", "normalize"}
AUGMENT_KEYS = {"random_resized_crop_scale", "random_resized_crop_ratio", "random_crop", "hflip", "rotation_deg"}
NORMALIZE_KEYS = {"mean", "std"}


def _check_keys(given: dict[str, Any], allowed: set[str], where: str) -> None:
    if not isinstance(given, dict):
        raise SmartMiningError(f"{where}: expected a mapping, got {type(given).__name__}")
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise SmartMiningError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _positive_int(spec: dict[str, Any], key: str) -> int:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SmartMiningError(f"transform.{key}: expected a positive integer, got {value!r}")
    return value


def _pair(value: Any, key: str) -> tuple[float, float]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and 0 < float(value[0]) <= float(value[1])):
        raise SmartMiningError(f"transform.train_augment.{key}: expected [low, high] with 0 < low <= high, got {value!r}")
    return float(value[0]), float(value[1])


class _ToChannels(torch.nn.Module):
    """Grayscale <-> RGB so that images match the network's input channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        have = image.shape[-3]
        if have == self.channels:
            return image
        if self.channels == 3 and have == 1:
            return image.expand(*image.shape[:-3], 3, *image.shape[-2:]).clone()
        if self.channels == 1 and have == 3:
            from torchvision.transforms import v2  # torchvision takes seconds to import: only where used

            return v2.functional.rgb_to_grayscale(image, num_output_channels=1)
        raise SmartMiningError(f"transform: cannot turn an image with {have} channels into {self.channels}")


def build_transform(spec: dict[str, Any], train: bool) -> Callable[[Any], torch.Tensor]:
    """A callable mapping a PIL image or uint8 tensor (C, H, W) to a normalised float tensor."""
    from torchvision.transforms import v2  # torchvision takes seconds to import: only where it is used

    _check_keys(spec, SPEC_KEYS, "transform")
    for key in ("size", "channels"):
        if key not in spec:
            raise SmartMiningError(f"transform: missing key {key!r}")
    size = _positive_int(spec, "size")
    channels = _positive_int(spec, "channels")
    if channels not in (1, 3):
        raise SmartMiningError(f"transform.channels: expected 1 or 3, got {channels}")
    resize = _positive_int(spec, "resize") if spec.get("resize") is not None else None
    augment = spec.get("train_augment") or {}
    _check_keys(augment, AUGMENT_KEYS, "transform.train_augment")
    normalize = spec.get("normalize")

    steps: list[Callable[[Any], Any]] = [v2.ToImage(), _ToChannels(channels)]
    if resize is not None:
        steps.append(v2.Resize(resize, antialias=True))  # shorter side, as the paper's 256
    if train and augment.get("random_crop"):
        steps.append(v2.RandomCrop(size, pad_if_needed=True))
    elif train and augment.get("random_resized_crop_scale") is not None:
        scale = _pair(augment["random_resized_crop_scale"], "random_resized_crop_scale")
        ratio = _pair(augment.get("random_resized_crop_ratio", [3 / 4, 4 / 3]), "random_resized_crop_ratio")
        steps.append(v2.RandomResizedCrop(size, scale=scale, ratio=ratio, antialias=True))
    elif resize is not None:
        steps.append(v2.CenterCrop(size))
    else:
        steps.append(v2.Resize((size, size), antialias=True))
    if train and augment.get("rotation_deg"):
        steps.append(v2.RandomRotation(float(augment["rotation_deg"])))
    if train and augment.get("hflip"):
        steps.append(v2.RandomHorizontalFlip())
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if normalize is not None:
        _check_keys(normalize, NORMALIZE_KEYS, "transform.normalize")
        mean, std = list(normalize.get("mean", [])), list(normalize.get("std", []))
        if len(mean) != channels or len(std) != channels or any(float(s) <= 0 for s in std):
            raise SmartMiningError(
                f"transform.normalize: mean and std need {channels} value(s) each (std > 0), got {mean} and {std}")
        steps.append(v2.Normalize(mean=[float(m) for m in mean], std=[float(s) for s in std]))
    steps.append(v2.ToPureTensor())
    return v2.Compose(steps)
