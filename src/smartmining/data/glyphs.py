"""The embedded dataset: characters rendered from the fonts that ship inside matplotlib.

Each class is one character (Latin, Greek, Cyrillic, digits, symbols); its images vary in font,
scale, rotation, translation, stroke width, contrast and noise. Like CUB, the first half of the
(seed-shuffled) classes trains and the unseen second half tests.

Characters that look alike are left out of the pool so that labels do not lie: cross-script twins
(Latin A / Greek Alpha / Cyrillic A, o / 0 / omicron, l / I / 1, B / Cyrillic ve, ...) and case pairs
that differ only in size (c/C, o/O, p/P, s/S, u/U, v/V, w/W, x/X, z/Z, Cyrillic small letters), since
glyphs are scaled to a random size.
"""

from __future__ import annotations

import functools
import hashlib
import io
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from smartmining.atomic import atomic_open
from smartmining.data.manifest import MANIFEST_COLUMNS
from smartmining.errors import SmartMiningError

# Candidate characters by script. Left out (besides the twins named in the module docstring):
# alpha (italic a), gamma (y), iota (l), kappa/kra (Cyrillic ka), nu (v), rho (p), upsilon (u),
# chi (x), phi/psi (same as their capitals up to size), Cyrillic Ze (3), Soft sign (b), U (y),
# eng (eta), eszett (beta), hbar (Tshe), micro (mu), inverted ! (i), division (+), n-ary sum and
# product (Sigma, Pi), ^ (Lambda), backslash (/ once slanted), and dots, dashes and quotes that lose
# their identity once scaled.
CHARACTER_POOL: dict[str, str] = {
    "latin": "ABCDEFGHJKLMNPQRSTVWXYZ" "abdefghijkmnqrty" "ÆæŒœØÞþÐðŁłđĦŦŧ",
    # One accent per base letter mostly: many near-twins (E with acute/grave/circumflex) would turn
    # the task into spotting accents.
    "latin_accented": "ÁÅÇÉÏÑÓÖÜŸŠŽČŘĞŞĘ" "áäéñýğřąęťď",
    "digit": "0123456789",
    "greek": "ΓΔΘΛΞΠΣΦΨΩ" "βδεζηθλμξπσςτω",
    "cyrillic": "БДЁЖИЙЛЦЧШЩЪЫЭЮЯ" "ЂЋЉЊЏЄҐѢҖҚҢҰҲӘҒ",
    "symbol": "!\"#$%&()*+/<=>?@[]{}~:;" "¢£¥§©®¬«»±¶¼½¾¿×¤" "€‰†‡•…№™ℓ∀∃∇√∞∫≈≠≡≤≥⊕⊗⊥∠←→↑↓↔↕⇒⇐♠♣♥♦★",
}

# Fonts that claim characters they do not draw: cmsy10 maps ASCII to math symbols, cmex10 has empty
# glyphs, LastResortHE draws one box per Unicode block.
DENIED_FONTS = frozenset({"cmsy10.ttf", "cmex10.ttf", "LastResortHE-Regular.ttf"})
# The Computer Modern fonts use TeX encodings: only ASCII letters and digits sit where Unicode says.
TEX_ENCODED_PREFIX = "cm"

_CHECK_SIZE = 64  # px; font size for the usability checks
# A font joins only if it draws this share of the pool's ASCII letters and digits: the Display,
# STIXNonUni and STIXSiz fonts hold a few big delimiters and symbols, not a type face.
_MIN_ALNUM_SHARE = 0.9


def font_dir() -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _pool() -> list[tuple[str, str]]:
    """(character, script) pairs in a fixed order, without repeats."""
    seen: set[str] = set()
    pool = []
    for script, chars in CHARACTER_POOL.items():
        for ch in chars:
            if ch not in seen:
                seen.add(ch)
                pool.append((ch, "latin" if script == "latin_accented" else script))
    return pool


@functools.lru_cache(maxsize=None)
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _check_render(path: str, ch: str) -> bytes:
    """The glyph drawn at a fixed size and position; equal bytes mean an identical drawing."""
    font = _truetype(path, _CHECK_SIZE)
    canvas = Image.new("L", (2 * _CHECK_SIZE, 2 * _CHECK_SIZE), 0)
    ImageDraw.Draw(canvas).text((_CHECK_SIZE // 2, _CHECK_SIZE // 2), ch, font=font, fill=255)
    bbox = canvas.getbbox()
    return b"" if bbox is None else canvas.crop(bbox).tobytes() + repr(canvas.crop(bbox).size).encode()


def _notdef_render(path: str, cmap: dict[int, str]) -> bytes:
    """What the font draws for a character it lacks (its .notdef box)."""
    missing = next(cp for cp in range(0xE000, 0xF900) if cp not in cmap)
    return _check_render(path, chr(missing))


@functools.lru_cache(maxsize=None)
def usable_fonts() -> dict[str, tuple[str, ...]]:
    """For each pool character, the matplotlib fonts that really draw it (sorted font paths).

    A font is skipped for a character when its cmap lacks it, when it draws nothing or its .notdef
    box, or when it draws the same picture for two pool characters (a placeholder or a shared glyph);
    fonts that do not draw the Latin letters and digits are skipped altogether.
    """
    pool = _pool()
    usable: dict[str, list[str]] = {ch: [] for ch, _ in pool}
    n_alnum = sum(ch.isascii() and ch.isalnum() for ch, _ in pool)
    for font_path in sorted(font_dir().glob("*.ttf")):
        if font_path.name in DENIED_FONTS:
            continue
        cmap = TTFont(font_path, lazy=True).getBestCmap() or {}
        tex_encoded = font_path.name.startswith(TEX_ENCODED_PREFIX)
        notdef = _notdef_render(str(font_path), cmap)
        drawings: dict[str, bytes] = {}
        for ch, _ in pool:
            if ord(ch) not in cmap or (tex_encoded and not (ch.isascii() and ch.isalnum())):
                continue
            drawing = _check_render(str(font_path), ch)
            if drawing and drawing != notdef:
                drawings[ch] = drawing
        counts: dict[bytes, int] = {}
        for drawing in drawings.values():
            counts[drawing] = counts.get(drawing, 0) + 1
        drawn = [ch for ch, drawing in drawings.items() if counts[drawing] == 1]
        if sum(ch.isascii() and ch.isalnum() for ch in drawn) < _MIN_ALNUM_SHARE * n_alnum:
            continue
        for ch in drawn:
            usable[ch].append(str(font_path))
    return {ch: tuple(fonts) for ch, fonts in usable.items()}


@dataclass(frozen=True)
class GlyphClass:
    char: str
    script: str
    fonts: tuple[str, ...]

    @property
    def name(self) -> str:
        """A readable, unique, file-system safe name, e.g. ``cyrillic_capital_letter_zhe``."""
        return unicodedata.name(self.char).lower().replace(" ", "_").replace("-", "_")


def glyph_classes(fonts_per_class_min: int = 8) -> list[GlyphClass]:
    """The pool characters drawn by at least ``fonts_per_class_min`` fonts, in pool order."""
    fonts = usable_fonts()
    return [GlyphClass(ch, script, fonts[ch]) for ch, script in _pool() if len(fonts[ch]) >= fonts_per_class_min]


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
    ref = _truetype(font_path, 100).getbbox(ch)
    ref_extent = max(ref[2] - ref[0], ref[3] - ref[1], 1)
    target = rng.uniform(*aug.extent) * image_size - 2 * stroke
    font = _truetype(font_path, max(int(round(100 * target / ref_extent)), 4))

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
    if n_classes < 2 or n_classes > len(classes):
        raise SmartMiningError(
            f"glyphs: n_classes must be in 2..{len(classes)} (characters drawn by at least "
            f"{fonts_per_class_min} fonts), got {n_classes}")
    order = np.random.default_rng([seed, 0x6C1F]).permutation(len(classes))
    return [classes[i] for i in order[:n_classes]]


def render_glyphs(root: Path, *, seed: int = 0, n_classes: int = 200, images_per_class: int = 40,
                  image_size: int = 48, fonts_per_class_min: int = 8) -> pd.DataFrame:
    """Render the glyph dataset under ``root/images/<label>/<i>.png``; write classes.csv; return the manifest.

    Deterministic: each image draws from its own generator seeded by (seed, codepoint, index).
    """
    if images_per_class < 2:
        raise SmartMiningError(f"glyphs: images_per_class must be at least 2, got {images_per_class}")
    if image_size < 16:
        raise SmartMiningError(f"glyphs: image_size must be at least 16, got {image_size}")
    if fonts_per_class_min < 1:
        raise SmartMiningError(f"glyphs: fonts_per_class_min must be at least 1, got {fonts_per_class_min}")
    root = Path(root)
    classes = select_classes(seed, n_classes, fonts_per_class_min)
    n_train = n_classes // 2

    # Render into a scratch folder and swap it in, so a crash never leaves a half-written images/.
    scratch = root / ".images.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    for label, cls in enumerate(classes):
        folder = scratch / str(label)
        folder.mkdir(parents=True)
        # Each font is used about equally often within a class.
        font_order = np.random.default_rng([seed, ord(cls.char), 1 << 30]).permutation(len(cls.fonts))
        for i in range(images_per_class):
            rng = np.random.default_rng([seed, ord(cls.char), i])
            font = cls.fonts[font_order[i % len(cls.fonts)]]
            data = _png_bytes(render_image(font, cls.char, rng, image_size))
            (folder / f"{i}.png").write_bytes(data)
            rows.append((f"images/{label}/{i}.png", label, cls.name,
                         "train" if label < n_train else "test", hashlib.md5(data).hexdigest()))
    images = root / "images"
    shutil.rmtree(images, ignore_errors=True)
    scratch.rename(images)

    table = pd.DataFrame(
        [(label, c.name, f"U+{ord(c.char):04X}", c.script, len(c.fonts)) for label, c in enumerate(classes)],
        columns=["label", "class_name", "codepoint", "script", "n_fonts"])
    with atomic_open(root / "classes.csv", "w", encoding="utf-8", newline="") as fh:
        table.to_csv(fh, index=False)
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
