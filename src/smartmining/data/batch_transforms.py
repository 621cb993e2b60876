"""Transforms of whole uint8 batches (N, C, H, W) on the device, each image with its own random draw.

The per-image transforms of ``transforms.py`` define what the profile's ``transform`` spec means; this
module applies the same spec to a batch at once (on the GPU when the batch is there), which is what makes
training on in-memory images fast: a Python loop over images cost a third of a CPU epoch. Random
parameters come from torch's global generator, so they are seeded and checkpointed with the run.

Random resized crop and rotation are done with one affine resampling (``affine_grid``/``grid_sample``);
random crop by slicing; flips by indexing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from smartmining.data.transforms import AUGMENT_KEYS, NORMALIZE_KEYS, SPEC_KEYS, _check_keys
from smartmining.errors import SmartMiningError


class BatchTransform:
    """``BatchTransform(spec, train)(uint8 batch) -> float batch`` for a profile's ``transform`` spec."""

    def __init__(self, spec: dict[str, Any], train: bool) -> None:
        _check_keys(spec, SPEC_KEYS, "transform")
        self.size = int(spec["size"])
        self.channels = int(spec["channels"])
        self.resize = spec.get("resize")
        augment = dict(spec.get("train_augment") or {}) if train else {}
        _check_keys(augment, AUGMENT_KEYS, "transform.train_augment")
        self.random_crop = bool(augment.get("random_crop"))
        scale = augment.get("random_resized_crop_scale")
        self.rrc_scale = tuple(float(v) for v in scale) if scale is not None and not self.random_crop else None
        self.rrc_ratio = tuple(float(v) for v in augment.get("random_resized_crop_ratio", (3 / 4, 4 / 3)))
        self.rotation = float(augment.get("rotation_deg") or 0.0)
        self.hflip = bool(augment.get("hflip"))
        norm = spec.get("normalize")
        if norm is not None:
            _check_keys(norm, NORMALIZE_KEYS, "transform.normalize")
        self.mean = torch.tensor(norm["mean"], dtype=torch.float32).view(1, -1, 1, 1) if norm else None
        self.std = torch.tensor(norm["std"], dtype=torch.float32).view(1, -1, 1, 1) if norm else None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.ndim != 4 or batch.dtype != torch.uint8:
            raise SmartMiningError(f"batch transform: expected a uint8 batch (N, C, H, W), got {batch.dtype} {tuple(batch.shape)}")
        x = to_channels(batch, self.channels).float().div_(255.0)
        if self.resize is not None and min(x.shape[-2:]) != int(self.resize):
            x = resize_shorter(x, int(self.resize))
        if self.random_crop:
            x = random_crop(x, self.size)
        elif self.rrc_scale is not None or self.rotation:
            x = random_affine_crop(x, self.size, self.rrc_scale or (1.0, 1.0), self.rrc_ratio, self.rotation)
        elif self.resize is not None:
            x = center_crop(x, self.size)
        elif x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        if self.hflip:
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        if self.mean is not None:
            x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        return x


def to_channels(batch: torch.Tensor, channels: int) -> torch.Tensor:
    have = batch.shape[1]
    if have == channels:
        return batch
    if have == 1 and channels == 3:
        return batch.expand(-1, 3, -1, -1)
    if have == 3 and channels == 1:  # ITU-R 601 luma, as PIL's "L"
        w = torch.tensor([0.299, 0.587, 0.114], device=batch.device).view(1, 3, 1, 1)
        return (batch.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise SmartMiningError(f"batch transform: cannot turn {have} channels into {channels}")


def resize_shorter(x: torch.Tensor, shorter: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    scale = shorter / min(h, w)
    return F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear", antialias=True, align_corners=False)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


def random_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """A size x size window at a random place of each image (padded with zeros if smaller)."""
    h, w = x.shape[-2:]
    if h < size or w < size:
        x = F.pad(x, (0, max(0, size - w), 0, max(0, size - h)))
        h, w = x.shape[-2:]
    tops = torch.randint(0, h - size + 1, (x.shape[0],)).tolist()
    lefts = torch.randint(0, w - size + 1, (x.shape[0],)).tolist()
    return torch.stack([img[:, t : t + size, l : l + size] for img, t, l in zip(x, tops, lefts)])


def random_affine_crop(
    x: torch.Tensor, size: int, scale: tuple[float, float], ratio: tuple[float, float], rotation_deg: float
) -> torch.Tensor:
    """Random resized crop (area fraction in ``scale``, aspect ratio log-uniform in ``ratio``) and rotation.

    Each image gets a crop of relative width sqrt(s*r) and height sqrt(s/r) (clipped to the image), centred
    uniformly where it fits, rotated by an angle uniform in [-rotation_deg, rotation_deg], resampled
    bilinearly to size x size.
    """
    n = x.shape[0]
    area = torch.empty(n).uniform_(*scale)
    log_r = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    r = torch.exp(log_r)
    cw = torch.sqrt(area * r).clamp(max=1.0)
    ch = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(n) * 2 - 1) * (1 - cw)  # normalised coordinates in [-1, 1]
    cy = (torch.rand(n) * 2 - 1) * (1 - ch)
    angle = (torch.rand(n) * 2 - 1) * math.radians(rotation_deg)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([
        torch.stack([cw * cos, -ch * sin, cx], 1),
        torch.stack([cw * sin, ch * cos, cy], 1),
    ], 1).to(x.device, x.dtype)
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
