"""The embedded glyph dataset: size, split, determinism, real ink, honest labels."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from smartmining.data import glyph_source, glyphs
from smartmining.data.manifest import validate_manifest
from smartmining.errors import SmartMiningError

INK_STD = 6.8  # smoothed std: the faintest glyph has about 7.8, the strongest noise alone about 6


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("glyphs")
    return root, glyphs.render_glyphs(root, seed=0)  # the defaults: 200 classes x 40 images, 48 px


def test_counts_and_split(rendered: tuple[Path, pd.DataFrame]) -> None:
    _, manifest = rendered
    validate_manifest(manifest)
    assert manifest["label"].nunique() >= 200
    assert manifest.groupby("label").size().min() >= 40
    train = set(manifest.loc[manifest["split"] == "train", "label"])
    test = set(manifest.loc[manifest["split"] == "test", "label"])
    assert not train & test
    assert len(train) == len(test) == 100
    assert train == set(range(100))  # the first half of the shuffled classes trains


def test_classes_table_and_script_mix(rendered: tuple[Path, pd.DataFrame]) -> None:
    root, manifest = rendered
    classes = pd.read_csv(root / "classes.csv")
    assert list(classes.columns) == ["label", "class_name", "codepoint", "script", "n_fonts"]
    assert list(classes["label"]) == list(range(200))
    names = manifest.drop_duplicates("label").set_index("label")["class_name"]
    assert list(classes["class_name"]) == list(names.sort_index())
    assert (classes["n_fonts"] >= 8).all()
    for half in (classes[classes["label"] < 100], classes[classes["label"] >= 100]):
        assert set(half["script"]) == {"latin", "greek", "cyrillic", "digit", "symbol"}


def _smoothed_std(image: Image.Image) -> float:
    """Pixel spread after a 3x3 box blur: noise averages out, drawn strokes stay."""
    return float(np.asarray(image.filter(ImageFilter.BoxBlur(1)), dtype=np.float64).std())


def test_ink_measure_rejects_pure_noise() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        noise = 200 + rng.normal(0.0, glyphs.Augmentation().noise_std[1], size=(48, 48))
        assert _smoothed_std(Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))) < INK_STD


def test_files_are_grayscale_pngs_with_ink_and_matching_md5(rendered: tuple[Path, pd.DataFrame]) -> None:
    root, manifest = rendered
    faint = []
    for path, md5 in zip(manifest["path"], manifest["md5"]):
        data = (root / path).read_bytes()
        assert hashlib.md5(data).hexdigest() == md5
        with Image.open(root / path) as image:
            assert image.mode == "L" and image.size == (48, 48)
            if _smoothed_std(image) < INK_STD:
                faint.append(path)
    assert faint == []


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path: Path) -> None:
    options = dict(n_classes=10, images_per_class=4, image_size=32)
    first = glyphs.render_glyphs(tmp_path / "a", seed=3, **options)
    second = glyphs.render_glyphs(tmp_path / "b", seed=3, **options)
    other = glyphs.render_glyphs(tmp_path / "c", seed=4, **options)
    pd.testing.assert_frame_equal(first, second)
    for path in first["path"]:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    assert (tmp_path / "a" / "classes.csv").read_bytes() == (tmp_path / "b" / "classes.csv").read_bytes()
    assert list(first["md5"]) != list(other["md5"])


def test_rerender_replaces_old_images(tmp_path: Path) -> None:
    glyphs.render_glyphs(tmp_path, n_classes=6, images_per_class=5, image_size=24)
    manifest = glyphs.render_glyphs(tmp_path, n_classes=4, images_per_class=3, image_size=24)
    on_disk = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "images").rglob("*.png"))
    assert on_disk == sorted(manifest["path"])


def test_no_two_classes_draw_the_same_picture_in_one_font() -> None:
    # Oracle: plain PIL drawings of every class character in every font it is rendered with.
    classes = glyphs.glyph_classes(8)
    by_font: dict[str, dict[bytes, str]] = {}
    for cls in classes:
        for font_path in cls.fonts:
            font = ImageFont.truetype(font_path, 40)
            canvas = Image.new("L", (100, 100), 0)
            ImageDraw.Draw(canvas).text((30, 20), cls.char, font=font, fill=255)
            drawing = canvas.crop(canvas.getbbox()).resize((24, 24)).tobytes()
            seen = by_font.setdefault(font_path, {})
            assert drawing not in seen, f"{cls.char!r} and {seen.get(drawing)!r} look alike in {font_path}"
            seen[drawing] = cls.char


def test_fonts_are_the_usable_ones() -> None:
    classes = glyphs.glyph_classes(8)
    used = {Path(f).name for cls in classes for f in cls.fonts}
    assert len(used) == 22  # CALIBRATION.md: 12 DejaVu, 4 STIXGeneral, 6 Computer Modern
    assert not used & {"cmsy10.ttf", "cmex10.ttf", "LastResortHE-Regular.ttf", "DejaVuSansDisplay.ttf"}
    by_char = {cls.char: {Path(f).name for f in cls.fonts} for cls in classes}
    assert not any(name.startswith("cm") for name in by_char["Ж"])  # no Cyrillic in TeX fonts
    assert "cmr10.ttf" in by_char["A"] and "cmr10.ttf" not in by_char["&"]  # TeX encodes '&' elsewhere
    assert len(by_char["A"]) == 22


def test_lookalike_characters_are_not_both_classes() -> None:
    chars = {cls.char for cls in glyphs.glyph_classes(8)}
    twins = [("A", "Α"), ("A", "А"), ("a", "а"), ("0", "O"), ("0", "o"), ("0", "О"), ("0", "ο"),
             ("1", "l"), ("1", "I"), ("B", "В"), ("H", "Н"), ("P", "Р"), ("C", "С"), ("X", "Χ"),
             ("c", "C"), ("s", "S"), ("v", "V"), ("w", "W"), ("x", "X"), ("z", "Z"), ("p", "P"),
             ("u", "U"), ("Γ", "Г"), ("Π", "П"), ("Φ", "Ф"), ("φ", "Φ"), ("ψ", "Ψ"), ("3", "З"),
             ("b", "Ь"), ("β", "ß"), ("η", "ŋ"), ("+", "÷"), ("Σ", "∑")]
    assert [pair for pair in twins if set(pair) <= chars] == []


def test_too_many_classes_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match="n_classes"):
        glyphs.render_glyphs(tmp_path, n_classes=10_000)
    with pytest.raises(SmartMiningError, match="images_per_class"):
        glyphs.render_glyphs(tmp_path, n_classes=4, images_per_class=1)


# --- the source pool (pretraining classes) ----------------------------------------------------------

def test_source_pool_is_large_and_disjoint_from_the_main_pool() -> None:
    import unicodedata

    from smartmining.data.glyph_fonts import CHARACTER_POOL

    main = set("".join(CHARACTER_POOL.values()))
    source = glyph_source.source_classes(8)
    chars = [cls.char for cls in source]
    assert len(chars) >= 400 and len(set(chars)) == len(chars)
    assert len({cls.name for cls in source}) == len(source)
    for ch in chars:
        base = unicodedata.normalize("NFKD", ch)[0]
        assert not {ch, ch.upper(), ch.lower(), base, base.upper(), base.lower()} & main, ch
        assert not ch.isascii() and "SMALL CAPITAL" not in unicodedata.name(ch)
    assert all(len(cls.fonts) >= 8 for cls in source)
    scripts = {cls.script for cls in source}
    assert {"armenian", "georgian", "arrow", "math", "box_drawing", "shape"} <= scripts


def test_no_source_character_is_drawn_like_a_main_or_another_source_character() -> None:
    # Oracle: plain PIL drawings at another size, cropped and shrunk, compared byte for byte per font.
    source = glyph_source.source_classes(8)
    main = glyphs.glyph_classes(8)
    by_font: dict[str, dict[bytes, str]] = {}
    for cls in main + list(source):
        for font_path in cls.fonts:
            font = ImageFont.truetype(font_path, 40)
            canvas = Image.new("L", (120, 100), 0)
            ImageDraw.Draw(canvas).text((30, 20), cls.char, font=font, fill=255)
            drawing = canvas.crop(canvas.getbbox()).resize((24, 24)).tobytes()
            seen = by_font.setdefault(font_path, {})
            assert drawing not in seen, f"{cls.char!r} and {seen.get(drawing)!r} look alike in {font_path}"
            seen[drawing] = cls.char


def test_known_twins_of_main_classes_stay_out_of_the_source_pool() -> None:
    chars = {cls.char for cls in glyph_source.source_classes(8)}
    # Cyrillic small ha (= x, a size twin of X), Cyrillic capital Ha, small es (= c), small-capital B,
    # Latin epsilon (= Greek epsilon), Cyrillic small ef (case pair of Ef = Phi), Greek Alpha.
    assert not chars & {"х", "Х", "с", "ʙ", "ɛ", "ф", "Α", "ѕ", "і"}


def test_source_classes_leave_the_main_images_byte_identical(tmp_path: Path) -> None:
    options = dict(seed=5, n_classes=6, images_per_class=3, image_size=24)
    plain = glyphs.render_glyphs(tmp_path / "a", **options)
    mixed = glyphs.render_glyphs(tmp_path / "b", **options, source_classes=5, source_images_per_class=2)
    main = mixed[mixed["split"] != "source"].reset_index(drop=True)
    pd.testing.assert_frame_equal(main, plain)
    for path in plain["path"]:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    source = mixed[mixed["split"] == "source"]
    assert sorted(set(source["label"])) == list(range(6, 11)) and (source.groupby("label").size() == 2).all()
    pool = {cls.name for cls in glyph_source.source_classes(8)}
    assert set(source["class_name"]) <= pool
    validate_manifest(mixed)
    classes = pd.read_csv(tmp_path / "b" / "classes.csv")
    assert list(classes["label"]) == list(range(11))
    again = glyphs.render_glyphs(tmp_path / "c", **options, source_classes=5, source_images_per_class=2)
    pd.testing.assert_frame_equal(again, mixed)  # the source choice is seeded too


def test_source_option_errors(tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match=r"source_classes must be 0 or in 2\.\."):
        glyphs.render_glyphs(tmp_path, n_classes=4, images_per_class=2, source_classes=1)
    with pytest.raises(SmartMiningError, match=r"source_classes must be 0 or in 2\.\."):
        glyphs.render_glyphs(tmp_path, n_classes=4, images_per_class=2, source_classes=100_000)
    with pytest.raises(SmartMiningError, match="source_images_per_class must be at least 2"):
        glyphs.render_glyphs(tmp_path, n_classes=4, images_per_class=2, source_classes=2, source_images_per_class=1)
