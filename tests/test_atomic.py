from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from smartmining import atomic


def test_write_json_and_npy_round_trip(tmp_path: Path) -> None:
    atomic.write_json(tmp_path / "a" / "m.json", {"x": np.float32(0.5), "arr": np.arange(3)})
    assert json.loads((tmp_path / "a" / "m.json").read_text()) == {"arr": [0, 1, 2], "x": 0.5}
    atomic.write_npy(tmp_path / "e.npy", np.eye(3))
    np.testing.assert_array_equal(np.load(tmp_path / "e.npy"), np.eye(3))


def test_exception_mid_write_keeps_the_previous_version(tmp_path: Path) -> None:
    target = tmp_path / "log.csv"
    atomic.write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(target, "w") as fh:
            fh.write("half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]  # no temporary file left behind


def test_disk_full_keeps_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "emb.npy"
    atomic.write_npy(target, np.zeros(4))

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", no_space)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_npy(target, np.ones(4))
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(target), np.zeros(4))
    assert len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_artifacts_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic.write_json(tmp_path / "m.json", {"a": 1})
        atomic.write_npy(tmp_path / "e.npy", np.zeros(2))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "e.npy").stat().st_mode) == mode


def test_a_full_disk_error_names_the_target_not_the_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "checkpoint.pt"
    atomic.write_text(target, "epoch 3")

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        atomic.write_text(target, "epoch 4")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_text() == "epoch 3" and [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
