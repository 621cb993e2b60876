"""The glyph dataset's characters and the matplotlib fonts that really draw them.

The main pool (``CHARACTER_POOL``) gives the training, validation and test classes. Characters that
look alike are left out of it so that labels do not lie: cross-script twins (Latin A / Greek Alpha /
Cyrillic A, o / 0 / omicron, l / I / 1, B / Cyrillic ve, ...) and case pairs that differ only in size
(c/C, o/O, p/P, s/S, u/U, v/V, w/W, x/X, z/Z, Cyrillic small letters), since glyphs are scaled to a
random size. ``glyph_source`` builds the second, disjoint pool of pretraining characters.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

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
SHAPE_SIZE = 16  # px; side of the scale-free shape signature (see ``Drawing``)


def font_dir() -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def main_pool() -> list[tuple[str, str]]:
    """The main pool's (character, script) pairs in a fixed order, without repeats."""
    seen: set[str] = set()
    pool = []
    for script, chars in CHARACTER_POOL.items():
        for ch in chars:
            if ch not in seen:
                seen.add(ch)
                pool.append((ch, "latin" if script == "latin_accented" else script))
    return pool


@functools.lru_cache(maxsize=None)
def truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class Drawing:
    """A character as one font draws it at a fixed size: ``digest`` is equal for identical drawings;
    ``shape`` (uint8, SHAPE_SIZE squared) is the drawing cropped, padded to a square and shrunk, so
    it forgets position and scale the way the renderer does (glyphs are centred and scaled)."""

    digest: bytes
    shape: np.ndarray


def _draw(path: str, ch: str) -> Image.Image | None:
    """The glyph drawn at a fixed size and position, cropped to its ink; None when it draws nothing."""
    font = truetype(path, _CHECK_SIZE)
    canvas = Image.new("L", (2 * _CHECK_SIZE, 2 * _CHECK_SIZE), 0)
    ImageDraw.Draw(canvas).text((_CHECK_SIZE // 2, _CHECK_SIZE // 2), ch, font=font, fill=255)
    bbox = canvas.getbbox()
    return None if bbox is None else canvas.crop(bbox)


def _drawing(image: Image.Image) -> Drawing:
    digest = hashlib.md5(image.tobytes() + repr(image.size).encode()).digest()
    side = max(image.size)
    square = Image.new("L", (side, side), 0)
    square.paste(image, ((side - image.size[0]) // 2, (side - image.size[1]) // 2))
    shape = np.asarray(square.resize((SHAPE_SIZE, SHAPE_SIZE), Image.BOX), dtype=np.uint8)
    return Drawing(digest, shape)


def _notdef_digest(path: str, cmap: dict[int, str]) -> bytes:
    """The digest of what the font draws for a character it lacks (its .notdef box)."""
    missing = next(cp for cp in range(0xE000, 0xF900) if cp not in cmap)
    image = _draw(path, chr(missing))
    return b"" if image is None else _drawing(image).digest


@functools.lru_cache(maxsize=None)
def font_drawings(font_path: str, chars: tuple[str, ...]) -> dict[str, Drawing]:
    """The characters of ``chars`` that the font really draws: in its cmap (for the TeX-encoded fonts:
    ASCII letters and digits only), with ink, and not its .notdef box."""
    cmap = TTFont(font_path, lazy=True).getBestCmap() or {}
    tex_encoded = Path(font_path).name.startswith(TEX_ENCODED_PREFIX)
    notdef = _notdef_digest(font_path, cmap)
    drawings: dict[str, Drawing] = {}
    for ch in chars:
        if ord(ch) not in cmap or (tex_encoded and not (ch.isascii() and ch.isalnum())):
            continue
        image = _draw(font_path, ch)
        if image is not None:
            drawing = _drawing(image)
            if drawing.digest != notdef:
                drawings[ch] = drawing
    return drawings


def _distinct(drawings: dict[str, Drawing]) -> list[str]:
    """The characters whose drawing no other character of ``drawings`` shares (placeholders, shared glyphs)."""
    counts: dict[bytes, int] = {}
    for drawing in drawings.values():
        counts[drawing.digest] = counts.get(drawing.digest, 0) + 1
    return [ch for ch, drawing in drawings.items() if counts[drawing.digest] == 1]


def main_chars() -> tuple[str, ...]:
    return tuple(ch for ch, _ in main_pool())


@functools.lru_cache(maxsize=None)
def text_fonts() -> tuple[str, ...]:
    """The matplotlib fonts that are type faces: they draw the main pool's ASCII letters and digits."""
    chars = main_chars()
    n_alnum = sum(ch.isascii() and ch.isalnum() for ch in chars)
    fonts = []
    for font_path in sorted(font_dir().glob("*.ttf")):
        if font_path.name in DENIED_FONTS:
            continue
        drawn = _distinct(font_drawings(str(font_path), chars))
        if sum(ch.isascii() and ch.isalnum() for ch in drawn) >= _MIN_ALNUM_SHARE * n_alnum:
            fonts.append(str(font_path))
    return tuple(fonts)


@functools.lru_cache(maxsize=None)
def usable_fonts(chars: tuple[str, ...] | None = None) -> dict[str, tuple[str, ...]]:
    """For each character of ``chars`` (the main pool by default), the fonts that really draw it.

    Only type faces count (``text_fonts``); a font is skipped for a character when it does not draw
    it (``font_drawings``) or draws the same picture for two characters of ``chars``.
    """
    chars = main_chars() if chars is None else chars
    usable: dict[str, list[str]] = {ch: [] for ch in chars}
    for font_path in text_fonts():
        for ch in _distinct(font_drawings(font_path, chars)):
            usable[ch].append(font_path)
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
    """The main pool characters drawn by at least ``fonts_per_class_min`` fonts, in pool order."""
    fonts = usable_fonts()
    return [GlyphClass(ch, script, fonts[ch]) for ch, script in main_pool() if len(fonts[ch]) >= fonts_per_class_min]
