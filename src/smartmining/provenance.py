"""What a run folder records about where and how it ran."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("smartmining", "torch", "torchvision", "faiss-cpu", "faiss-gpu", "numpy", "pandas", "scikit-learn")


def git_commit(cwd: str | Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True)
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def provenance(device: str, seed: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "git_commit": git_commit(Path(__file__).parent),
        "versions": package_versions(),
        "device": device,
        "platform": platform.platform(),
        "seed": seed,
        "argv": sys.argv,
        **(extra or {}),
    }
