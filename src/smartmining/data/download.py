"""Fetching, verifying and extracting published dataset archives.

A download goes to ``<name>.part`` and continues it with an HTTP Range request after a dropped
connection; it is renamed to ``<name>`` only once its md5 matches, so a file under the final name has
always been verified. Mirrors are tried in order, in rounds with exponential backoff. Integrity and
extraction reuse torchvision's helpers; torchvision's own ``download_url`` cannot resume.
"""

from __future__ import annotations

import http.client
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from smartmining.errors import SmartMiningError

USER_AGENT = "smartmining-downloader/1"
CHUNK_BYTES = 1 << 20
# Client errors that another try of the same URL will not fix.
PERMANENT_HTTP_CODES = frozenset({400, 401, 403, 404, 410})


@dataclass(frozen=True)
class RemoteFile:
    """A published file: its local name, md5 and the URLs that serve it, tried in order."""

    filename: str
    md5: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Transfer:
    """How to download: attempts per mirror, seconds of backoff before round 2 (doubling), socket timeout."""

    retries: int = 3
    backoff: float = 2.0
    timeout: float = 60.0
    progress: bool = True


class _IncompleteDownload(OSError):
    """The connection ended before the announced length: the ``.part`` file is kept for resuming."""


def calculate_md5(path: Path) -> str:
    """torchvision's md5 of a file (imported here: torchvision takes seconds to import)."""
    from torchvision.datasets.utils import calculate_md5 as torchvision_md5

    return torchvision_md5(path)


def check_md5_text(md5: str, option: str = "md5") -> str:
    """A lower-case 32-hex-digit md5, or a clear error naming the option."""
    if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        raise SmartMiningError(f"{option} must be an md5 of 32 hex digits, got {md5!r}")
    return md5.lower()


def _content_range_start(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total length) from ``Content-Range: bytes a-b/total`` or ``bytes */total``."""
    match = re.fullmatch(r"bytes\s+(\d+|\*)-?(\d*)/(\d+|\*)", (header or "").strip())
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) != "*" else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    return start, total


def fetch(url: str, part: Path, *, timeout: float = 60.0, progress: bool = True) -> None:
    """Download ``url`` into ``part``, continuing from its current size with a Range request.

    Returns when the server has sent the whole file; raises ``urllib.error.HTTPError``, ``OSError``
    (including timeouts and an early end of the connection) or ``http.client.HTTPException`` otherwise.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Nothing left past our offset: complete if the sizes agree, else start over.
            _, total = _content_range_start(exc.headers.get("Content-Range"))
            exc.close()
            if total == offset:
                return
            part.unlink()
            raise _IncompleteDownload(f"server refused to resume at byte {offset}; restarting") from exc
        raise
    with response:
        status = getattr(response, "status", None)
        start, total = _content_range_start(response.headers.get("Content-Range"))
        if status == 206 and start != offset:
            part.unlink()
            raise _IncompleteDownload(f"server resumed at byte {start}, not {offset}; restarting")
        if status == 206:
            mode = "ab"
        else:  # the server ignored the Range (or it was not sent): the body is the whole file
            mode, offset = "wb", 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with open(part, mode) as fh, tqdm(total=None if expected is None else offset + expected, initial=offset,
                                          unit="B", unit_scale=True, desc=part.name.removesuffix(".part"),
                                          disable=not progress, leave=False) as bar:
            for block in iter(lambda: response.read(CHUNK_BYTES), b""):
                fh.write(block)
                received += len(block)
                bar.update(len(block))
            fh.flush()
            os.fsync(fh.fileno())
    # http.client returns a short body silently when reading in blocks: compare with the announced size.
    if expected is not None and received < expected:
        raise _IncompleteDownload(f"connection closed after {offset + received} of {offset + expected} bytes")


def _mismatch_message(path: Path, expected: str, got: str, source: str) -> str:
    hint = ""
    with open(path, "rb") as fh:
        if fh.read(64).lstrip().startswith(b"<"):
            hint = " (it looks like an HTML page: a login, error or landing page rather than the archive)"
    return (f"{path.name}: md5 mismatch for {source}: expected {expected}, got {got}{hint}")


def download_file(remote: RemoteFile, folder: Path, transfer: Transfer = Transfer()) -> Path:
    """``folder/<filename>`` verified against ``remote.md5``, downloading it from the first mirror that works.

    An existing verified file is reused; a ``.part`` file is resumed. A download with the wrong md5
    is deleted and the next mirror tried; when none works the error lists what each one did.
    """
    md5 = check_md5_text(remote.md5)
    if not remote.urls:
        raise SmartMiningError(f"{remote.filename}: no URL to download it from; pass --option archive=PATH")
    if transfer.retries < 1:
        raise SmartMiningError(f"retries must be at least 1, got {transfer.retries}")
    folder = Path(folder)
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # removed again if nothing lands there
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _download_into(remote, folder, md5, transfer)
    except BaseException:
        for path in created:
            try:
                path.rmdir()  # only when empty: a kept .part file keeps its folder
            except OSError:
                break
        raise


def _download_into(remote: RemoteFile, folder: Path, md5: str, transfer: Transfer) -> Path:
    final, part = folder / remote.filename, folder / f"{remote.filename}.part"
    if final.exists():
        if calculate_md5(final) == md5:
            return final
        final.unlink()  # not ours, or damaged since: it must not pass as verified
    failures: dict[str, str] = {}
    dead: set[str] = set()  # mirrors that a retry will not fix: missing file, wrong md5
    for attempt in range(transfer.retries):
        if attempt and transfer.backoff > 0:
            time.sleep(transfer.backoff * 2 ** (attempt - 1))
        for url in remote.urls:
            if url in dead:
                continue
            try:
                fetch(url, part, timeout=transfer.timeout, progress=transfer.progress)
            except urllib.error.HTTPError as exc:
                failures[url] = f"HTTP {exc.code} {exc.reason}"
                if exc.code in PERMANENT_HTTP_CODES:
                    dead.add(url)
                continue
            except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts, resets
                failures[url] = f"{type(exc).__name__}: {exc}"
                continue
            got = calculate_md5(part)
            if got == md5:
                os.replace(part, final)
                return final
            failures[url] = _mismatch_message(part, md5, got, url)
            part.unlink()
            dead.add(url)
        if len(dead) == len(set(remote.urls)):
            break
    report = "\n  ".join(f"{url}: {why}" for url, why in failures.items())
    kept = f" The partial download {part} is kept; running again resumes it." if part.exists() else ""
    raise SmartMiningError(
        f"could not download {remote.filename} (md5 {md5}):\n  {report}\n"
        f"Retry later, or download it by hand, check `md5sum` gives {md5}, and put it in {folder} "
        f"(the download folder: SMARTMINING_DOWNLOADS) or pass --option archive=PATH.{kept}")


def verify_local_file(path: str | os.PathLike[str], md5: str, option: str = "archive") -> Path:
    """A user-given file that exists and has the expected md5, or a clear error naming the option."""
    path = Path(path).expanduser()
    md5 = check_md5_text(md5)
    if not path.is_file():
        raise SmartMiningError(f"{option}={path}: file not found")
    got = calculate_md5(path)
    if got != md5:
        raise SmartMiningError(
            f"{option}={path}: md5 mismatch: expected {md5}, got {got}. The file is damaged or not the "
            f"published release: download it again, or pass --option verify=false to use it anyway")
    return path


def unverified_stamp(path: Path) -> str:
    """A cheap identity of a file whose md5 was not checked: its path, size and modification time."""
    stat = path.stat()
    return f"unverified:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def resolve_urls(urls: Sequence[str] | str | None, default: tuple[str, ...], option: str = "urls") -> tuple[str, ...]:
    """The mirror list from an option (None: the default; a single string is one URL)."""
    if urls is None:
        return default
    if isinstance(urls, str):
        urls = [urls]
    if not all(isinstance(u, str) and u for u in urls):
        raise SmartMiningError(f"{option} must be a list of URLs, got {urls!r}")
    return tuple(urls)
