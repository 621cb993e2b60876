"""Downloads: resume with Range, mirrors, retries, md5 verification, the download folder, local files and
extraction."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from fixtures_paper import RangeServer, closed_port_url, md5_of

from smartmining.data.download import RemoteFile, Transfer, check_md5_text, download_file, verify_local_file
from smartmining.data.folders import extract_once
from smartmining.data.local_copies import Checksum, checked_copy, downloads_folder, local_or_download
from smartmining.errors import SmartMiningError

PAYLOAD = bytes(range(256)) * 400  # 100 KiB: several blocks, so "half-way" is mid-stream
FAST = Transfer(retries=2, backoff=0.0, timeout=5.0, progress=False)


def _remote(*urls: str, md5: str = md5_of(PAYLOAD)) -> RemoteFile:
    return RemoteFile("data.tgz", md5, tuple(urls))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_renames_into_place(tmp_path: Path) -> None:
    with RangeServer({"data.tgz": PAYLOAD}) as server:
        path = download_file(_remote(server.url("data.tgz")), tmp_path / "dl", FAST)
    assert path == tmp_path / "dl" / "data.tgz"
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path / "dl") == ["data.tgz"]
    assert server.requests == [("/data.tgz", None)]


def test_interrupted_download_resumes_with_a_range_request(tmp_path: Path) -> None:
    with RangeServer({"data.tgz": PAYLOAD}, drop_first={"data.tgz"}) as server:
        path = download_file(_remote(server.url("data.tgz")), tmp_path, FAST)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 2
    assert server.requests[0][1] is None
    assert server.requests[1][1] == f"bytes={len(PAYLOAD) // 2}-"
    assert _leftovers(tmp_path) == ["data.tgz"]


def test_dropped_connection_without_retries_keeps_the_part_file_and_says_so(tmp_path: Path) -> None:
    once = Transfer(retries=1, backoff=0.0, timeout=5.0, progress=False)
    with RangeServer({"data.tgz": PAYLOAD}, drop_first={"data.tgz"}) as server:
        with pytest.raises(SmartMiningError, match="resumes it") as err:
            download_file(_remote(server.url("data.tgz")), tmp_path, once)
        assert "archive=PATH" in str(err.value)
        assert (tmp_path / "data.tgz.part").stat().st_size == len(PAYLOAD) // 2
        assert not (tmp_path / "data.tgz").exists()
        # A later run (a new process, say) continues the part file.
        download_file(_remote(server.url("data.tgz")), tmp_path, once)
    assert server.requests[-1][1] == f"bytes={len(PAYLOAD) // 2}-"
    assert (tmp_path / "data.tgz").read_bytes() == PAYLOAD


def test_server_that_ignores_range_restarts_the_file(tmp_path: Path) -> None:
    (tmp_path / "data.tgz.part").write_bytes(b"stale bytes from another file")
    with RangeServer({"data.tgz": PAYLOAD}, ignore_range=True) as server:
        path = download_file(_remote(server.url("data.tgz")), tmp_path, FAST)
    assert server.requests[0][1] == "bytes=29-"
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_is_verified_after_a_416(tmp_path: Path) -> None:
    (tmp_path / "data.tgz.part").write_bytes(PAYLOAD)  # a crash between the last byte and the rename
    with RangeServer({"data.tgz": PAYLOAD}) as server:
        path = download_file(_remote(server.url("data.tgz")), tmp_path, FAST)
    assert server.requests == [("/data.tgz", f"bytes={len(PAYLOAD)}-")]
    assert path.read_bytes() == PAYLOAD


def test_corrupted_download_is_deleted_with_a_clear_error(tmp_path: Path) -> None:
    bad = bytearray(PAYLOAD)
    bad[5000] ^= 0xFF
    with RangeServer({"data.tgz": bytes(bad)}) as server:
        with pytest.raises(SmartMiningError) as err:
            download_file(_remote(server.url("data.tgz")), tmp_path, FAST)
    message = str(err.value)
    assert "data.tgz" in message and "md5 mismatch" in message
    assert md5_of(PAYLOAD) in message and md5_of(bytes(bad)) in message
    assert "archive=PATH" in message
    assert len(server.requests) == 1  # a wrong md5 is not fixed by asking the same mirror again
    assert _leftovers(tmp_path) == []


def test_html_page_instead_of_archive_is_named(tmp_path: Path) -> None:
    with RangeServer({"data.tgz": b"<html><body>Please log in</body></html>"}) as server:
        with pytest.raises(SmartMiningError, match="HTML page"):
            download_file(_remote(server.url("data.tgz")), tmp_path, FAST)
    assert _leftovers(tmp_path) == []


def test_mirror_that_404s_is_skipped_for_the_next(tmp_path: Path) -> None:
    with RangeServer({"good/data.tgz": PAYLOAD}) as server:
        remote = _remote(server.url("gone/data.tgz"), server.url("good/data.tgz"))
        path = download_file(remote, tmp_path, FAST)
    assert path.read_bytes() == PAYLOAD
    assert [p for p, _ in server.requests] == ["/gone/data.tgz", "/good/data.tgz"]


def test_every_mirror_failing_lists_each_failure(tmp_path: Path) -> None:
    refused = closed_port_url("data.tgz")
    with RangeServer({}) as server:
        with pytest.raises(SmartMiningError) as err:
            download_file(_remote(server.url("data.tgz"), refused), tmp_path, FAST)
    message = str(err.value)
    assert "HTTP 404" in message and refused in message
    assert len(server.requests) == 1  # the 404 is permanent: not retried in round 2


def test_stalled_server_times_out(tmp_path: Path) -> None:
    quick = Transfer(retries=1, backoff=0.0, timeout=0.3, progress=False)
    with RangeServer({"data.tgz": PAYLOAD}, stall={"data.tgz"}) as server:
        with pytest.raises(SmartMiningError, match="(?i)timed out"):
            download_file(_remote(server.url("data.tgz")), tmp_path, quick)
    assert not (tmp_path / "data.tgz").exists()


def test_existing_verified_file_is_reused_and_a_wrong_one_replaced(tmp_path: Path) -> None:
    (tmp_path / "data.tgz").write_bytes(PAYLOAD)
    with RangeServer({"data.tgz": PAYLOAD}) as server:
        download_file(_remote(server.url("data.tgz")), tmp_path, FAST)
        assert server.requests == []
        (tmp_path / "data.tgz").write_bytes(b"tampered")
        download_file(_remote(server.url("data.tgz")), tmp_path, FAST)
        assert len(server.requests) == 1
    assert (tmp_path / "data.tgz").read_bytes() == PAYLOAD


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match="md5 must be"):
        check_md5_text("abc")
    with pytest.raises(SmartMiningError, match="no URL"):
        download_file(_remote(), tmp_path, FAST)
    with pytest.raises(SmartMiningError, match="retries"):
        download_file(_remote("http://127.0.0.1:9/x"), tmp_path, Transfer(retries=0))


def test_local_file_is_verified(tmp_path: Path) -> None:
    path = tmp_path / "mine.tgz"
    path.write_bytes(PAYLOAD)
    assert verify_local_file(path, md5_of(PAYLOAD)) == path
    with pytest.raises(SmartMiningError, match=f"expected {'0' * 32}, got {md5_of(PAYLOAD)}"):
        verify_local_file(path, "0" * 32)
    with pytest.raises(SmartMiningError, match="archive=.*nowhere.tgz: file not found"):
        verify_local_file(tmp_path / "nowhere.tgz", md5_of(PAYLOAD))


def _tgz(path: Path, files: dict[str, bytes]) -> Path:
    src = path.parent / f"{path.name}-src"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    with tarfile.open(path, "w:gz") as tar:
        for name in files:
            tar.add(src / name, arcname=name)
    return path


def test_extract_once_extracts_reuses_and_replaces(tmp_path: Path) -> None:
    first = _tgz(tmp_path / "a.tgz", {"top/x.txt": b"one"})
    dest = extract_once(first, tmp_path / "out" / "extracted", "stamp-a")
    assert (dest / "top" / "x.txt").read_bytes() == b"one"
    (dest / "top" / "marker").write_text("kept")  # proves the second call did not extract again
    extract_once(first, dest, "stamp-a")
    assert (dest / "top" / "marker").exists()
    second = _tgz(tmp_path / "b.tgz", {"top/y.txt": b"two"})
    extract_once(second, dest, "stamp-b")
    assert not (dest / "top" / "x.txt").exists() and (dest / "top" / "y.txt").read_bytes() == b"two"
    assert _leftovers(dest.parent) == ["extracted"]  # no temporary folders left


def test_broken_archive_leaves_no_extracted_folder(tmp_path: Path) -> None:
    good = _tgz(tmp_path / "a.tgz", {"x.txt": b"x" * 5000})
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(good.read_bytes()[: os.path.getsize(good) // 2])
    with pytest.raises(SmartMiningError, match="broken.tgz: cannot extract"):
        extract_once(broken, tmp_path / "out" / "extracted", "s")
    assert _leftovers(tmp_path / "out") == []


def test_failed_download_leaves_no_folder_it_created(tmp_path: Path) -> None:
    with RangeServer({}) as server:
        with pytest.raises(SmartMiningError, match="HTTP 404"):
            download_file(_remote(server.url("data.tgz")), tmp_path / "cache" / "downloads", FAST)
    assert _leftovers(tmp_path) == []  # neither downloads/ nor cache/
    (tmp_path / "mine").mkdir()
    with RangeServer({}) as server, pytest.raises(SmartMiningError):
        download_file(_remote(server.url("data.tgz")), tmp_path / "mine", FAST)
    assert (tmp_path / "mine").is_dir()  # a folder that was there before stays


def test_extracted_folders_follow_the_umask(tmp_path: Path) -> None:
    archive = _tgz(tmp_path / "a.tgz", {"top/x.txt": b"one"})
    old = os.umask(0o022)
    try:
        dest = extract_once(archive, tmp_path / "out" / "extracted", "s")
    finally:
        os.umask(old)
    assert dest.stat().st_mode & 0o777 == 0o755


def test_download_folder_option_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMINING_DOWNLOADS", "/data/dl")
    assert downloads_folder("/given") == Path("/given")
    assert downloads_folder(None) == Path("/data/dl")
    monkeypatch.delenv("SMARTMINING_DOWNLOADS")
    assert downloads_folder() == Path("~/.cache/smartmining/downloads").expanduser()


def test_copy_in_the_download_folder_is_accepted_by_content_only(tmp_path: Path) -> None:
    assert checked_copy(tmp_path, "data.tgz", Checksum("md5", md5_of(PAYLOAD))) is None
    (tmp_path / "data.tgz").write_bytes(PAYLOAD)
    with RangeServer({"data.tgz": b"other"}) as server:
        path = local_or_download(_remote(server.url("data.tgz")), tmp_path, FAST)
    assert path == tmp_path / "data.tgz" and server.requests == []  # no download
    sha = __import__("hashlib").sha256(PAYLOAD).hexdigest()
    assert checked_copy(tmp_path, "data.tgz", Checksum("sha256", sha)) == path
    (tmp_path / "data.tgz").write_bytes(b"same name, other bytes")
    with pytest.raises(SmartMiningError) as err:
        local_or_download(_remote("http://127.0.0.1:9/data.tgz"), tmp_path, FAST)
    assert str(tmp_path / "data.tgz") in str(err.value) and f"expected {md5_of(PAYLOAD)}" in str(err.value)
    assert (tmp_path / "data.tgz").exists()  # the user's file is not deleted
    with pytest.raises(SmartMiningError, match="sha256 must be 64 hex digits"):
        Checksum("sha256", "abc")
