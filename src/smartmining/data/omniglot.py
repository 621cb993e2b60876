"""Omniglot (Lake et al., Science 2015; MIT licence): 1,623 handwritten characters of 50 alphabets, 20 drawers each.

Sources, per half (``background``: 30 alphabets, 964 characters; ``evaluation``: 20 other alphabets,
659 characters), looked for in the download folder (``local_copies``) in this order:
- ``images_<half>.npz``, a lossless conversion of the official PNGs: ``images`` bool [C, 20, 105, 105]
  (True = background), ``labels`` [C, 20] == c; character c is official number c + 1 (background) or
  c + 965 (evaluation). Checked by sha256 (``<half>_sha256``).
- ``images_<half>.zip``, the official archive that torchvision's ``Omniglot`` downloads
  (``images_<half>/<alphabet>/characterNN/XXXX_YY.png``), checked by md5 (``<half>_md5``) and
  downloaded there (``<half>_urls``, mirrors tried in order) when neither file is present.

The splits are class-disjoint and alphabet-disjoint between training and test: ``background_classes``
characters of the background alphabets train (the generic ``val_classes`` of them validate) and
``evaluation_classes`` characters of the evaluation alphabets test (None: all 964 / 659), both subsets
chosen with ``seed``.
Class names are ``bg-0001`` .. ``bg-0964`` and ``ev-0965`` .. ``ev-1623`` (the official character
numbers), whichever source was used, so the manifest is the same from the zips and the npz files.
Images are stored as 1-channel PNGs, dark ink on white as in the originals, at ``image_size`` px
(area-averaged from 105 px): ``images/<class>/<drawer>.png``. ``classes.csv`` lists each class with
its ``pool`` (background or evaluation), character number and alphabet (the alphabet name is known
from the zips only: the npz files do not store it).
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from smartmining.atomic import atomic_open
from smartmining.data.download import RemoteFile, Transfer, check_md5_text, resolve_urls
from smartmining.data.folders import replace_folder, scratch_folder
from smartmining.data.local_copies import Checksum, checked_copy, downloads_folder, local_or_download
from smartmining.data.manifest import MANIFEST_COLUMNS
from smartmining.data.registry import register_dataset
from smartmining.errors import SmartMiningError

NATIVE_SIZE, DRAWERS = 105, 20
# torchvision.datasets.Omniglot's zips_md5 and download_url_prefix (tests check they agree), and a GitHub mirror.
_PREFIXES = ("https://raw.githubusercontent.com/brendenlake/omniglot/master/python",
             "https://github.com/brendenlake/omniglot/raw/master/python")
ZIP_MD5 = {"background": "68d2efa1b9178cc56df9314c21c6e718", "evaluation": "6b91aef0f799c5bb55b94e3f2daec811"}
NPZ_SHA256 = {"background": "8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199",
              "evaluation": "0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276"}
FIRST_NUMBER = {"background": 1, "evaluation": 965}  # official character numbers: 1-964, 965-1623
PREFIX = {"background": "bg", "evaluation": "ev"}
_PNG_NAME = re.compile(r"images_(background|evaluation)/([^/]+)/character\d+/(\d{4})_(\d{2})\.png")


@dataclass(frozen=True)
class Half:
    """One half of Omniglot in memory: ``images`` bool [C, 20, 105, 105] (True = background), the official
    character ``numbers`` [C] and their ``alphabets`` (None where the source does not say)."""

    images: np.ndarray
    numbers: np.ndarray
    alphabets: list[str | None]


def remote_zip(half: str, urls: list[str] | str | None = None, md5: str | None = None) -> RemoteFile:
    name = f"images_{half}.zip"
    return RemoteFile(name, check_md5_text(md5 or ZIP_MD5[half], f"{half}_md5"),
                      resolve_urls(urls, tuple(f"{p}/{name}" for p in _PREFIXES), f"{half}_urls"))


def read_npz(path: Path, half: str) -> Half:
    """images_<half>.npz as a Half, its layout checked."""
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = np.asarray(data["images"]), np.asarray(data["labels"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise SmartMiningError(f"{path}: not an Omniglot npz with arrays images and labels ({exc})") from exc
    n = images.shape[0] if images.ndim else 0
    if images.dtype != bool or images.shape[1:] != (DRAWERS, NATIVE_SIZE, NATIVE_SIZE) or n < 1:
        raise SmartMiningError(f"{path}: images must be bool [C, {DRAWERS}, {NATIVE_SIZE}, {NATIVE_SIZE}], "
                               f"got {images.dtype} {list(images.shape)}")
    if labels.shape != (n, DRAWERS) or not (labels == np.arange(n)[:, None]).all():
        raise SmartMiningError(f"{path}: labels must be [C, {DRAWERS}] with labels[c, j] == c")
    return Half(images, FIRST_NUMBER[half] + np.arange(n), [None] * n)


def read_zip(path: Path, half: str) -> Half:
    """images_<half>.zip as a Half: PNGs decoded (mode "1": True = background), sorted by character number."""
    drawings: dict[int, dict[int, np.ndarray]] = {}
    alphabets: dict[int, str] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                match = _PNG_NAME.fullmatch(name)
                if match is None or match.group(1) != half:
                    continue
                number, drawer = int(match.group(3)), int(match.group(4))
                with Image.open(io.BytesIO(archive.read(name))) as image:
                    pixels = np.asarray(image.convert("1"), dtype=bool)
                if pixels.shape != (NATIVE_SIZE, NATIVE_SIZE):
                    raise SmartMiningError(f"{path}: {name} is {pixels.shape[1]}x{pixels.shape[0]}, expected "
                                           f"{NATIVE_SIZE}x{NATIVE_SIZE}")
                drawings.setdefault(number, {})[drawer] = pixels
                alphabets[number] = match.group(2)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SmartMiningError(f"{path}: cannot read the zip ({type(exc).__name__}: {exc})") from exc
    if not drawings:
        raise SmartMiningError(f"{path}: holds no images_{half}/<alphabet>/characterNN/XXXX_YY.png")
    incomplete = [n for n, d in drawings.items() if sorted(d) != list(range(1, DRAWERS + 1))]
    if incomplete:
        raise SmartMiningError(f"{path}: character(s) {sorted(incomplete)[:5]} lack some of the {DRAWERS} drawings")
    numbers = np.array(sorted(drawings))
    images = np.stack([np.stack([drawings[n][d] for d in range(1, DRAWERS + 1)]) for n in numbers])
    return Half(images, numbers, [alphabets[n] for n in numbers])


def load_half(half: str, folder: Path, *, sha256: str, remote: RemoteFile, transfer: Transfer) -> Half:
    """The npz in the download folder when there, else the zip there or downloaded into it."""
    npz = checked_copy(folder, f"images_{half}.npz", Checksum("sha256", sha256))
    if npz is not None:
        return read_npz(npz, half)
    return read_zip(local_or_download(remote, folder, transfer), half)


def choose(n_available: int, wanted: int | None, seed: int, tag: int, option: str) -> np.ndarray:
    """``wanted`` sorted indices of ``n_available``: all of them (None), or a subset drawn with (seed, tag)."""
    if wanted is None:
        wanted = n_available
    if isinstance(wanted, bool) or not isinstance(wanted, int) or not 2 <= wanted <= n_available:
        raise SmartMiningError(f"omniglot: {option} must be an integer in 2..{n_available}, got {wanted!r}")
    if wanted == n_available:
        return np.arange(n_available)
    return np.sort(np.random.default_rng([seed, tag]).choice(n_available, size=wanted, replace=False))


def to_grey(drawing: np.ndarray, size: int) -> np.ndarray:
    """A bool drawing (True = background) as uint8 grey, ink 0 on 255, area-averaged to ``size`` px."""
    image = Image.fromarray(np.where(drawing, 255, 0).astype(np.uint8), mode="L")
    if size != drawing.shape[0]:
        resample = Image.Resampling.BOX if size < drawing.shape[0] else Image.Resampling.BILINEAR
        image = image.resize((size, size), resample)
    return np.asarray(image)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")  # PIL writes no time stamp
    return buffer.getvalue()


@register_dataset("omniglot", version=1, fetch=(
    "background_md5", "evaluation_md5", "background_sha256", "evaluation_sha256", "background_urls", "evaluation_urls",
    "download_dir", "retries", "backoff", "timeout", "progress"))
def omniglot(root: Path, *, image_size: int = NATIVE_SIZE, background_classes: int | None = None,
             evaluation_classes: int | None = None, seed: int = 0,
             background_md5: str = ZIP_MD5["background"], evaluation_md5: str = ZIP_MD5["evaluation"],
             background_sha256: str = NPZ_SHA256["background"], evaluation_sha256: str = NPZ_SHA256["evaluation"],
             background_urls: list[str] | None = None, evaluation_urls: list[str] | None = None,
             download_dir: str | None = None, retries: int = 3, backoff: float = 2.0, timeout: float = 60.0,
             progress: bool = True) -> pd.DataFrame:
    """Write ``root/images`` and ``root/classes.csv``; return the manifest (background train, evaluation test)."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not 8 <= image_size <= 4 * NATIVE_SIZE:
        raise SmartMiningError(f"omniglot: image_size must be an integer in 8..{4 * NATIVE_SIZE}, got {image_size!r}")
    root, folder = Path(root), downloads_folder(download_dir)
    transfer = Transfer(retries=int(retries), backoff=float(backoff), timeout=float(timeout), progress=bool(progress))
    given = {"background": (background_classes, background_md5, background_sha256, background_urls),
             "evaluation": (evaluation_classes, evaluation_md5, evaluation_sha256, evaluation_urls)}
    chosen: list[tuple[str, Half, np.ndarray]] = []
    for tag, (half, (wanted, md5, sha256, urls)) in enumerate(given.items(), start=0x0A1):
        data = load_half(half, folder, sha256=sha256, remote=remote_zip(half, urls, md5), transfer=transfer)
        chosen.append((half, data, choose(len(data.numbers), wanted, seed, tag, f"{half}_classes")))

    scratch = scratch_folder(root, ".images-writing-")
    rows, classes = [], []
    try:
        for half, data, picked in chosen:
            split = "train" if half == "background" else "test"
            for c in picked:
                label, name = len(classes), f"{PREFIX[half]}-{int(data.numbers[c]):04d}"
                classes.append((label, name, half, int(data.numbers[c]), data.alphabets[c] or ""))
                (scratch / name).mkdir()
                for j in range(DRAWERS):
                    png = png_bytes(to_grey(data.images[c, j], image_size))
                    (scratch / name / f"{j + 1:02d}.png").write_bytes(png)
                    rows.append((f"images/{name}/{j + 1:02d}.png", label, name, split, hashlib.md5(png).hexdigest()))
        replace_folder(scratch, root / "images")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    table = pd.DataFrame(classes, columns=["label", "class_name", "pool", "character", "alphabet"])
    with atomic_open(root / "classes.csv", "w", encoding="utf-8", newline="") as fh:
        table.to_csv(fh, index=False)
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
