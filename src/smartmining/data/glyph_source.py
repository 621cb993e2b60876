"""The glyph dataset's source pool: characters for pretraining, disjoint from the main pool.

PAPER.md section 10 pretrains the backbone on source classes disjoint from the training, validation
and test classes. Those come from characters matplotlib's fonts draw beyond ``CHARACTER_POOL``:
Armenian, Georgian, Hebrew and Arabic letters, more Greek and Cyrillic, IPA and Latin Extended,
arrows, math operators, technical symbols, box drawing, geometric shapes, misc symbols, dingbats.

A candidate is left out when it would bring a main class into pretraining or make labels lie:
- it is a main pool character, a case variant of one, or its NFKD decomposition starts with one (or
  with any ASCII character): accented variants, circled and styled letters, ligatures; or it is a
  small capital (a capital up to size, and glyphs are scaled);
- in some font it is drawn exactly like a reference character (the main pool, its case variants and
  the ASCII letters and digits the main pool leaves out as twins of its own), or after the renderer's
  normalisation (centred, scaled by its longer side) it looks like one (``TWIN_DISTANCE``); its case
  variants go with it (Cyrillic small ha is Latin x, so capital Ha goes too);
- it looks like an earlier source character (the earlier one stays).
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np

from smartmining.data.glyph_fonts import GlyphClass, font_drawings, main_chars, text_fonts, usable_fonts

# Unicode blocks (first, last code point) searched for source characters, by script.
SOURCE_BLOCKS: dict[str, tuple[tuple[int, int], ...]] = {
    "latin_extended": ((0x0100, 0x024F), (0x1E00, 0x1EFF)),
    "ipa": ((0x0250, 0x02AF),),
    "greek": ((0x0370, 0x03FF),),
    "cyrillic": ((0x0400, 0x052F),),
    "armenian": ((0x0531, 0x058F),),
    "hebrew": ((0x05D0, 0x05EA),),
    "arabic": ((0x0620, 0x064A),),  # drawn alone, each letter shows its isolated form
    "georgian": ((0x10A0, 0x10FF),),
    "currency": ((0x20A0, 0x20CF),),
    "letterlike": ((0x2100, 0x214F),),
    "arrow": ((0x2190, 0x21FF), (0x27F0, 0x27FF), (0x2900, 0x297F), (0x2B00, 0x2BFF)),
    "math": ((0x2200, 0x22FF), (0x27C0, 0x27EF), (0x2980, 0x29FF), (0x2A00, 0x2AFF)),
    "technical": ((0x2300, 0x23FF),),
    "box_drawing": ((0x2500, 0x259F),),
    "shape": ((0x25A0, 0x25FF),),
    "symbol": ((0x2600, 0x26FF),),
    "dingbat": ((0x2700, 0x27BF),),
}
# Root-mean-square difference (0..255 scale) of two shape signatures below which two characters
# count as one to the eye: c/C and o/O, heavy and light strokes of one form, a letter and its twin.
TWIN_DISTANCE = 40.0


def _related(ch: str) -> set[str]:
    """The character, its case variants, and the same for the first character of its NFKD form."""
    base = unicodedata.normalize("NFKD", ch)[:1] or ch
    return {ch, ch.upper(), ch.lower(), base, base.upper(), base.lower()}


@functools.lru_cache(maxsize=None)
def source_candidates() -> tuple[tuple[str, str], ...]:
    """(character, script) pairs of letters, numbers and symbols in SOURCE_BLOCKS, minus the main pool,
    its case variants and decompositions, and anything decomposing to ASCII."""
    main = set(main_chars())
    seen: set[str] = set()
    out = []
    for script, blocks in SOURCE_BLOCKS.items():
        for first, last in blocks:
            for cp in range(first, last + 1):
                ch = chr(cp)
                if unicodedata.category(ch)[0] not in "LNS" or ch in seen:
                    continue
                related = _related(ch)
                if (related & main or any(c.isascii() for c in related) or "SMALL CAPITAL" in unicodedata.name(ch, "")):
                    continue
                seen.add(ch)
                out.append((ch, script))
    return tuple(out)


def reference_chars() -> tuple[str, ...]:
    """What a source character must not look like: the main pool, its case variants, ASCII letters and digits."""
    main = main_chars()
    extra = {variant for ch in main for variant in (ch.upper(), ch.lower()) if len(variant) == 1}
    extra |= {ch for ch in map(chr, range(0x21, 0x7F)) if ch.isalnum()}
    return main + tuple(sorted(extra - set(main)))


def _shapes(drawings: dict, chars: list[str]) -> np.ndarray:
    return np.stack([drawings[ch].shape.ravel() for ch in chars]).astype(np.float32)


def _rms_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Root-mean-square differences between the rows of a and of b."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0) / a.shape[1])


@functools.lru_cache(maxsize=None)
def source_classes(fonts_per_class_min: int = 8) -> tuple[GlyphClass, ...]:
    """The source pool: candidates drawn by at least ``fonts_per_class_min`` fonts that look like no
    main character and no earlier source character, in candidate order."""
    candidates = source_candidates()
    chars = tuple(ch for ch, _ in candidates)
    fonts = usable_fonts(chars)
    kept = [ch for ch in chars if len(fonts[ch]) >= fonts_per_class_min]
    reference = reference_chars()
    twin: set[str] = set()
    lookalike: dict[str, set[str]] = {ch: set() for ch in kept}  # earlier source characters alike
    for font_path in text_fonts():
        drawn = font_drawings(font_path, chars)
        main_drawn = font_drawings(font_path, reference)
        here = [ch for ch in kept if ch in drawn]
        if not here:
            continue
        main_digests = {d.digest for d in main_drawn.values()}
        twin.update(ch for ch in here if drawn[ch].digest in main_digests)
        shapes = _shapes(drawn, here)
        if main_drawn:
            near_main = _rms_distances(shapes, _shapes(main_drawn, list(main_drawn))).min(1) < TWIN_DISTANCE
            twin.update(ch for ch, near in zip(here, near_main) if near)
        near = _rms_distances(shapes, shapes) < TWIN_DISTANCE
        for i, ch in enumerate(here):
            lookalike[ch].update(here[j] for j in np.flatnonzero(near[i, :i]))
    chosen: list[str] = []
    chosen_set: set[str] = set()
    twin |= {variant for ch in twin for variant in (ch.upper(), ch.lower())}
    for ch in kept:
        if not {ch, ch.upper(), ch.lower()} & twin and not lookalike[ch] & chosen_set:
            chosen.append(ch)
            chosen_set.add(ch)
    script = dict(candidates)
    return tuple(GlyphClass(ch, script[ch], fonts[ch]) for ch in chosen)
