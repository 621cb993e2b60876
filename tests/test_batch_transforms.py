from __future__ import annotations

import pytest
import torch

from smartmining.data.batch_transforms import BatchTransform
from smartmining.data.transforms import build_transform
from smartmining.errors import SmartMiningError

CPU_SPEC = {"size": 16, "channels": 1, "train_augment": {"random_resized_crop_scale": [0.6, 1.0], "hflip": True},
            "normalize": {"mean": [0.5], "std": [0.5]}}
PAPER_SPEC = {"resize": 20, "size": 16, "channels": 3, "train_augment": {"random_crop": True, "hflip": True},
              "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}


def images(n: int = 6, c: int = 1, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize(("spec", "c", "size"), [(CPU_SPEC, 1, 16), (PAPER_SPEC, 3, 20), (PAPER_SPEC, 1, 20)])
def test_the_test_transform_equals_the_per_image_transform(spec: dict, c: int, size: int) -> None:
    batch = images(c=c, size=size)
    ours = BatchTransform(spec, train=False)(batch)
    reference = torch.stack([build_transform(spec, train=False)(img) for img in batch])
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours, reference, atol=2e-2, rtol=0)


def test_identity_augmentation_returns_the_normalised_images() -> None:
    spec = {**CPU_SPEC, "train_augment": {"random_resized_crop_scale": [1.0, 1.0], "random_resized_crop_ratio": [1.0, 1.0]}}
    batch = images()
    out = BatchTransform(spec, train=True)(batch)
    torch.testing.assert_close(out, (batch.float() / 255 - 0.5) / 0.5, atol=1e-4, rtol=0)


def test_each_image_gets_its_own_draw_and_the_seed_fixes_them() -> None:
    batch = images(1).expand(8, -1, -1, -1).contiguous()  # eight copies of one image
    t = BatchTransform(CPU_SPEC, train=True)
    torch.manual_seed(3)
    a = t(batch)
    torch.manual_seed(3)
    b = t(batch)
    torch.testing.assert_close(a, b)
    distinct = {tuple(x.flatten()[:50].tolist()) for x in a}
    assert len(distinct) > 4


def test_random_crop_takes_a_window_of_the_image_or_its_mirror() -> None:
    batch = images(n=10, c=3, size=20)
    spec = {**PAPER_SPEC, "normalize": None}
    out = BatchTransform(spec, train=True)(batch)
    assert out.shape == (10, 3, 16, 16)
    for src, crop in zip(batch.float() / 255, out):
        windows = [src[:, t:t + 16, l:l + 16] for t in range(5) for l in range(5)]
        assert any(torch.equal(crop, w) or torch.equal(crop, w.flip(-1)) for w in windows)


def test_grayscale_and_rgb_inputs_become_the_profile_channels() -> None:
    assert BatchTransform(PAPER_SPEC, train=False)(images(c=1, size=20)).shape == (6, 3, 16, 16)
    assert BatchTransform(CPU_SPEC, train=False)(images(c=3)).shape == (6, 1, 16, 16)


def test_bad_specs_and_inputs_are_named() -> None:
    with pytest.raises(SmartMiningError, match="transform.train_augment: unknown key"):
        BatchTransform({**CPU_SPEC, "train_augment": {"jitter": 1}}, train=True)
    with pytest.raises(SmartMiningError, match="uint8 batch"):
        BatchTransform(CPU_SPEC, train=False)(images().float())
