"""Loading images into tensors, the in-memory Dataset, and the transforms built from specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from smartmining.data.images import load_images_checked


def load_images(*args, **kwargs):
    loaded = load_images_checked(*args, **kwargs)
    return loaded.images, loaded.labels
from smartmining.data.manifest import MANIFEST_COLUMNS
from smartmining.data.transforms import build_transform
from smartmining.errors import SmartMiningError

GLYPH_SPEC = {"size": 16, "channels": 1,
              "train_augment": {"random_resized_crop_scale": [0.8, 1.0], "hflip": False},
              "normalize": {"mean": [0.5], "std": [0.5]}}
PAPER_SPEC = {"resize": 256, "size": 227, "channels": 3,
              "train_augment": {"random_crop": True, "hflip": True},
              "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, pd.DataFrame, dict[str, np.ndarray]]:
    """A gray 16x16 PNG, an RGB 20x12 JPEG-free PNG and an RGB 16x16 BMP, with their pixels."""
    rng = np.random.default_rng(0)
    pixels = {"gray.png": rng.integers(0, 256, (16, 16), dtype=np.uint8),
              "wide.png": rng.integers(0, 256, (12, 20, 3), dtype=np.uint8),
              "rgb.bmp": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)}
    for name, array in pixels.items():
        Image.fromarray(array).save(tmp_path / name)
    rows = [("gray.png", 0, "a", "train"), ("wide.png", 1, "b", "test"), ("rgb.bmp", 0, "a", "train")]
    manifest = pd.DataFrame([(*r, "0" * 32) for r in rows], columns=list(MANIFEST_COLUMNS))
    return tmp_path, manifest, pixels


def test_shapes_labels_and_order(images) -> None:
    root, manifest, pixels = images
    x, y = load_images(manifest, root, "train", size=16, channels=1)
    assert x.dtype == torch.uint8 and x.shape == (2, 1, 16, 16)
    assert y.dtype == np.int64 and list(y) == [0, 0]
    assert np.array_equal(x[0, 0].numpy(), pixels["gray.png"])  # same size: untouched
    x, y = load_images(manifest, root, "test", size=16, channels=3)
    assert x.shape == (1, 3, 16, 16) and list(y) == [1]


def test_channel_conversion(images) -> None:
    root, manifest, pixels = images
    x3, _ = load_images(manifest, root, "train", size=16, channels=3)
    gray = x3[0].numpy()
    assert np.array_equal(gray[0], pixels["gray.png"]) and (gray == gray[:1]).all()  # replicated
    assert np.array_equal(x3[1].numpy().transpose(1, 2, 0), pixels["rgb.bmp"])
    x1, _ = load_images(manifest, root, "train", size=16, channels=1)
    expected = np.asarray(Image.fromarray(pixels["rgb.bmp"]).convert("L"))
    assert np.array_equal(x1[1, 0].numpy(), expected)


def test_resize_when_sizes_differ(images) -> None:
    root, manifest, pixels = images
    x, _ = load_images(manifest, root, "test", size=8, channels=3)
    expected = np.asarray(Image.fromarray(pixels["wide.png"]).resize((8, 8), Image.BILINEAR))
    assert np.array_equal(x[0].numpy().transpose(1, 2, 0), expected)


def test_bad_files_are_all_listed(images) -> None:
    root, manifest, _ = images
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = (root / "gray.png").read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    extra = pd.DataFrame([(name, 0, "a", "train", "0" * 32) for name in ("broken.png", "truncated.png", "gone.png")],
                         columns=list(MANIFEST_COLUMNS))
    with pytest.raises(SmartMiningError, match="2 unreadable") as info:
        load_images(pd.concat([manifest, extra]), root, "train", size=16, channels=1)
    message = str(info.value)
    assert "1 file(s) listed in the manifest are missing" in message and "'train' split" in message
    for name in ("broken.png", "truncated.png", "gone.png"):
        assert name in message
    assert "gray.png" not in message


def test_load_argument_errors(images) -> None:
    root, manifest, _ = images
    with pytest.raises(SmartMiningError, match="split"):
        load_images(manifest, root, "valid", size=16, channels=1)
    with pytest.raises(SmartMiningError, match="no 'val' images"):
        load_images(manifest, root, "val", size=16, channels=1)
    with pytest.raises(SmartMiningError, match="channels"):
        load_images(manifest, root, "train", size=16, channels=2)


def test_glyph_spec_train_and_test() -> None:
    image = torch.randint(0, 256, (1, 16, 16), dtype=torch.uint8)
    torch.manual_seed(0)
    train = build_transform(GLYPH_SPEC, train=True)(image)
    test = build_transform(GLYPH_SPEC, train=False)(image)
    assert train.shape == test.shape == (1, 16, 16) and train.dtype == torch.float32
    assert type(test) is torch.Tensor
    assert torch.allclose(test, image.float() / 255 * 2 - 1, atol=1e-6)
    assert train.min() >= -1 - 1e-6 and train.max() <= 1 + 1e-6


def test_paper_spec_on_pil_and_gray_tensors() -> None:
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    train = build_transform(PAPER_SPEC, train=True)(photo)
    test = build_transform(PAPER_SPEC, train=False)
    assert train.shape == (3, 227, 227)
    assert torch.equal(test(photo), test(photo))  # centre crop: no randomness
    gray = torch.full((1, 300, 300), 128, dtype=torch.uint8)
    out = test(gray)
    assert out.shape == (3, 227, 227)
    expected = (128 / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(out[:, 100, 100], expected, atol=1e-5)


def test_rgb_to_one_channel() -> None:
    rgb = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    out = build_transform({"size": 16, "channels": 1}, train=False)(rgb)
    assert out.shape == (1, 16, 16)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**GLYPH_SPEC, "colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({**GLYPH_SPEC, "train_augment": {"vflip": True}}, r"train_augment: unknown key\(s\) \['vflip'\]"),
        ({**GLYPH_SPEC, "normalize": {"mean": [0.5], "sd": [1]}}, r"normalize: unknown key\(s\) \['sd'\]"),
        ({**GLYPH_SPEC, "normalize": {"mean": [0.5, 0.5], "std": [0.5, 0.5]}}, "1 value"),
        ({**GLYPH_SPEC, "size": 0}, "transform.size"),
        ({"channels": 1}, "missing key 'size'"),
        ({**GLYPH_SPEC, "train_augment": {"random_resized_crop_scale": [1.0, 0.5]}}, "random_resized_crop_scale"),
    ],
)
def test_spec_errors(spec: dict, message: str) -> None:
    with pytest.raises(SmartMiningError, match=message):
        build_transform(spec, train=True)
