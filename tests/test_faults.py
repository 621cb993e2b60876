"""Faults a long run meets: kill -9 mid-epoch, then the same command resumes to the same result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SMOKE_SELECTION

from smartmining.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
METHOD = "smart+global+adaptive"


def train_command(out: Path, data: Path, backbone: Path) -> list[str]:
    selection = out.parent / "selection.json"
    selection.write_text(json.dumps(SMOKE_SELECTION))
    return [sys.executable, "-m", "smartmining", "train", "--config", str(ROOT / "params.yaml"), "--profile", "smoke",
            "--dataset", "glyphs", "--method", METHOD, "--seed", "0", "--out", str(out), "--data-dir", str(data),
            "--init-from", str(backbone), "--selection", str(selection), "--quiet"]


@pytest.mark.slow
def test_kill_9_mid_epoch_then_the_same_command_resumes_to_the_same_metrics(
    smoke_profile: dict, smoke_data: Path, smoke_backbone: Path, train_smoke, tmp_path: Path
) -> None:
    killed = tmp_path / "killed"
    proc = subprocess.Popen(train_command(killed, smoke_data, smoke_backbone), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # during the epoch after the first checkpoint
    proc.wait()
    state = load_checkpoint(killed / "checkpoint.pt")
    assert 1 <= state["epoch"] < smoke_profile["train"]["epochs"], "the run ended before it could be killed"
    assert not (killed / "metrics.json").exists()

    done = subprocess.run(train_command(killed, smoke_data, smoke_backbone), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" in done.stderr

    uninterrupted = train_smoke(smoke_profile, tmp_path / "straight", method=METHOD)
    assert json.loads((killed / "metrics.json").read_text()) == uninterrupted


def test_a_corrupt_checkpoint_is_reported_not_overwritten(smoke_profile: dict, train_smoke, tmp_path: Path) -> None:
    from smartmining.errors import SmartMiningError

    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SmartMiningError, match="cannot read the checkpoint"):
        train_smoke(smoke_profile, tmp_path, method="random")
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"not a checkpoint"
