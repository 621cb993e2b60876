"""The download folder: where every dataset looks for its archives before downloading, and where downloads land.

The folder is the ``download_dir`` option when given, else ``$SMARTMINING_DOWNLOADS``, else
``~/.cache/smartmining/downloads``: one folder shared by all datasets and data roots, so a machine
without internet works from copies put there by hand, and an archive is downloaded once.

A file there is accepted by its content, never by its name alone: a file of the expected name with
another checksum stops with an error naming the file and the checksum it should have (it is the
user's file: we do not delete it).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from smartmining.data.download import RemoteFile, Transfer, download_file
from smartmining.errors import SmartMiningError

DOWNLOADS_ENV = "SMARTMINING_DOWNLOADS"
DEFAULT_DOWNLOADS = "~/.cache/smartmining/downloads"
_HEX_DIGITS = {"md5": 32, "sha256": 64}


def downloads_folder(option: str | os.PathLike[str] | None = None) -> Path:
    """The download folder: the option, else $SMARTMINING_DOWNLOADS, else ~/.cache/smartmining/downloads."""
    if option is not None and str(option) != "":
        return Path(option).expanduser()
    return Path(os.environ.get(DOWNLOADS_ENV) or DEFAULT_DOWNLOADS).expanduser()


@dataclass(frozen=True)
class Checksum:
    """An expected digest: ``algorithm`` md5 or sha256, ``digest`` in hex."""

    algorithm: str
    digest: str

    def __post_init__(self) -> None:
        digits = _HEX_DIGITS.get(self.algorithm)
        if digits is None:
            raise SmartMiningError(f"checksum algorithm must be one of {sorted(_HEX_DIGITS)}, got {self.algorithm!r}")
        if not isinstance(self.digest, str) or not re.fullmatch(rf"[0-9a-fA-F]{{{digits}}}", self.digest):
            raise SmartMiningError(f"{self.algorithm} must be {digits} hex digits, got {self.digest!r}")
        object.__setattr__(self, "digest", self.digest.lower())

    def of(self, path: Path) -> str:
        """The digest of a file's bytes with this algorithm."""
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, self.algorithm).hexdigest()

    def __str__(self) -> str:
        return f"{self.algorithm} {self.digest}"


def checked_copy(folder: Path, filename: str, checksum: Checksum) -> Path | None:
    """``folder/filename`` when it exists with the expected checksum; None when absent; an error when it differs."""
    path = Path(folder) / filename
    if not path.is_file():
        return None
    got = checksum.of(path)
    if got != checksum.digest:
        raise SmartMiningError(
            f"{path}: {checksum.algorithm} mismatch: expected {checksum.digest}, got {got}. The file in the "
            f"download folder is damaged or another release: replace it with the published file, or remove it "
            f"to download it again")
    return path


def local_or_download(remote: RemoteFile, folder: Path, transfer: Transfer) -> Path:
    """The verified archive: the copy in the download folder, or a download into it."""
    found = checked_copy(folder, remote.filename, Checksum("md5", remote.md5))
    return found if found is not None else download_file(remote, folder, transfer)
