"""The embedded dataset: characters rendered from the fonts that ship inside matplotlib.

Each class is one character (Latin, Greek, Cyrillic, digits, symbols; ``glyph_fonts``); its images
vary in font, scale, rotation, translation, stroke width, contrast and noise. Like CUB, the first
half of the (seed-shuffled) classes trains and the unseen second half tests. With
``source_classes`` > 0, characters of a second, disjoint pool (``glyph_source``) are rendered as the
"source" split for pretraining, labelled after the main classes; the main classes' selection,
labels and image bytes do not depend on them.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from smartmining.atomic import atomic_open
from smartmining.data.glyph_fonts import GlyphClass, glyph_classes, truetype
from smartmining.data.glyph_source import source_classes as source_pool
from smartmining.data.manifest import MANIFEST_COLUMNS
from smartmining.data.registry import register_dataset
from smartmining.errors import SmartMiningError

__all__ = ["Augmentation", "GlyphClass", "glyph_classes", "render_glyphs", "render_image", "select_classes",
           "select_source_classes"]


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random variation; defaults keep test Recall@1 well inside (30%, 90%)."""

    extent: tuple[float, float] = (0.4, 0.85)  # longer side of the glyph box / image side
    rotation_deg: float = 20.0
    shear: float = 0.3  # max horizontal slant; it leaves the bar of + level, so + stays apart from x
    shift: float = 0.12  # max shift of the glyph centre / image side
    stroke_px_per_48: float = 1.5  # max extra stroke width at a 48 px image
    blur_px_per_48: float = 1.0  # max Gaussian blur radius at a 48 px image
    ink: tuple[int, int] = (0, 80)
    background: tuple[int, int] = (170, 255)
    noise_std: tuple[float, float] = (2.0, 16.0)


def _rotate_and_slant(mask: Image.Image, angle_deg: float, shear: float) -> Image.Image:
    """Rotate and slant the mask about its centre (PIL wants the output-to-input map)."""
    angle = np.deg2rad(angle_deg)
    forward = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array(
        [[1.0, shear], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    centre = np.array(mask.size, dtype=np.float64) / 2
    offset = centre - inverse @ centre
    coefficients = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    return mask.transform(mask.size, Image.AFFINE, coefficients, resample=Image.BILINEAR)


def render_image(font_path: str, ch: str, rng: np.random.Generator, image_size: int,
                 aug: Augmentation = Augmentation()) -> np.ndarray:
    """One grayscale image (uint8, image_size x image_size) of ``ch`` with random variation."""
    stroke = int(rng.integers(0, int(aug.stroke_px_per_48 * image_size / 48) + 1))
    # Size the font so that the glyph's longer side is a random fraction of the image.
    ref = truetype(font_path, 100).getbbox(ch)
    ref_extent = max(ref[2] - ref[0], ref[3] - ref[1], 1)
    target = rng.uniform(*aug.extent) * image_size - 2 * stroke
    font = truetype(font_path, max(int(round(100 * target / ref_extent)), 4))

    canvas_size = 2 * image_size
    mask = Image.new("L", (canvas_size, canvas_size), 0)
    x0, y0, x1, y1 = font.getbbox(ch, stroke_width=stroke)
    centre = canvas_size / 2
    ImageDraw.Draw(mask).text((centre - (x0 + x1) / 2, centre - (y0 + y1) / 2), ch, font=font,
                              fill=255, stroke_width=stroke, stroke_fill=255)
    mask = _rotate_and_slant(mask, rng.uniform(-aug.rotation_deg, aug.rotation_deg),
                             rng.uniform(-aug.shear, aug.shear))
    blur = rng.uniform(0.0, aug.blur_px_per_48 * image_size / 48)
    if blur > 0.2:  # below that the filter changes almost nothing
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    # Shift the glyph inside the image, as far as it fits.
    bx0, by0, bx1, by1 = mask.getbbox() or (0, 0, canvas_size, canvas_size)
    offsets = []
    for lo, hi in ((bx0, bx1), (by0, by1)):
        slack = max((image_size - (hi - lo)) / 2, 0.0)
        offsets.append((lo + hi) / 2 - image_size / 2 + rng.uniform(-1, 1) * min(slack, aug.shift * image_size))
    left, top = int(round(offsets[0])), int(round(offsets[1]))
    glyph = np.asarray(mask.crop((left, top, left + image_size, top + image_size)), dtype=np.float32) / 255.0

    ink = rng.uniform(*aug.ink)
    background = rng.uniform(*aug.background)
    pixels = background + (ink - background) * glyph
    pixels += rng.normal(0.0, rng.uniform(*aug.noise_std), size=pixels.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")  # PIL writes no time stamp
    return buffer.getvalue()


def select_classes(seed: int, n_classes: int, fonts_per_class_min: int) -> list[GlyphClass]:
    """``n_classes`` pool classes in seed-shuffled order (train = first half, test = second)."""
    classes = glyph_classes(fonts_per_class_min)
    return _seeded_pick(classes, n_classes, [seed, 0x6C1F],
                        f"n_classes must be in 2..{len(classes)} (characters drawn by at least {fonts_per_class_min} fonts)")


def select_source_classes(seed: int, n_source: int, fonts_per_class_min: int) -> list[GlyphClass]:
    """``n_source`` source pool classes (0, or 2 and more) in seed-shuffled order."""
    if n_source == 0:
        return []
    pool = source_pool(fonts_per_class_min)
    return _seeded_pick(pool, n_source, [seed, 0x50C], f"source_classes must be 0 or in 2..{len(pool)} (source "
                        f"characters drawn by at least {fonts_per_class_min} fonts)")


def _seeded_pick(pool: list[GlyphClass], n: int, seed: list[int], rule: str) -> list[GlyphClass]:
    """``n`` classes of ``pool`` in a seeded shuffle; ``rule`` names the option and its range when n is out of it."""
    if n < 2 or n > len(pool):
        raise SmartMiningError(f"glyphs: {rule}, got {n}")
    order = np.random.default_rng(seed).permutation(len(pool))
    return [pool[i] for i in order[:n]]


def _render_class(folder: Path, cls: GlyphClass, *, seed: int, n_images: int, image_size: int) -> list[bytes]:
    """Render one class's images into ``folder/<i>.png``; return their bytes."""
    folder.mkdir(parents=True)
    # Each font is used about equally often within a class.
    font_order = np.random.default_rng([seed, ord(cls.char), 1 << 30]).permutation(len(cls.fonts))
    images = []
    for i in range(n_images):
        rng = np.random.default_rng([seed, ord(cls.char), i])
        font = cls.fonts[font_order[i % len(cls.fonts)]]
        data = _png_bytes(render_image(font, cls.char, rng, image_size))
        (folder / f"{i}.png").write_bytes(data)
        images.append(data)
    return images


@register_dataset("glyphs", version=1)
def render_glyphs(root: Path, *, seed: int = 0, n_classes: int = 200, images_per_class: int = 40,
                  image_size: int = 48, fonts_per_class_min: int = 8, source_classes: int = 0,
                  source_images_per_class: int | None = None) -> pd.DataFrame:
    """Render the glyph dataset under ``root/images/<label>/<i>.png``; write classes.csv; return the manifest.

    Labels 0..n_classes-1 are the main classes (first half "train", second half "test"); the
    ``source_classes`` source classes follow with ``source_images_per_class`` images each (default:
    images_per_class). Deterministic: each image draws from its own generator seeded by
    (seed, codepoint, index), so the main images are the same bytes whatever the source options.
    """
    n_source_images = images_per_class if source_images_per_class is None else source_images_per_class
    for key, value in (("images_per_class", images_per_class), ("source_images_per_class", n_source_images)):
        if value < 2:
            raise SmartMiningError(f"glyphs: {key} must be at least 2, got {value}")
    if image_size < 16:
        raise SmartMiningError(f"glyphs: image_size must be at least 16, got {image_size}")
    if fonts_per_class_min < 1:
        raise SmartMiningError(f"glyphs: fonts_per_class_min must be at least 1, got {fonts_per_class_min}")
    root = Path(root)
    classes = select_classes(seed, n_classes, fonts_per_class_min)
    sources = select_source_classes(seed, source_classes, fonts_per_class_min)
    n_train = n_classes // 2

    # Render into a scratch folder and swap it in, so a crash never leaves a half-written images/.
    scratch = root / ".images.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    for label, cls in enumerate(classes + sources):
        split = "train" if label < n_train else "test" if label < n_classes else "source"
        n_images = images_per_class if label < n_classes else n_source_images
        pngs = _render_class(scratch / str(label), cls, seed=seed, n_images=n_images, image_size=image_size)
        rows += [(f"images/{label}/{i}.png", label, cls.name, split, hashlib.md5(data).hexdigest())
                 for i, data in enumerate(pngs)]
    images = root / "images"
    shutil.rmtree(images, ignore_errors=True)
    scratch.rename(images)

    table = pd.DataFrame(
        [(label, c.name, f"U+{ord(c.char):04X}", c.script, len(c.fonts)) for label, c in enumerate(classes + sources)],
        columns=["label", "class_name", "codepoint", "script", "n_fonts"])
    with atomic_open(root / "classes.csv", "w", encoding="utf-8", newline="") as fh:
        table.to_csv(fh, index=False)
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
