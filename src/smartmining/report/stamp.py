"""Where and from what a report was made: the commit, the code digest, the CPU model and the date.

REPORT.md carries the stamp in its header and readings.json in its "stamp" key. The CSV files stay plain (DVC
plots and pandas read them without a comment convention): STAMP.json beside REPORT.md holds the stamp and the
list of every file the report wrote.
"""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from smartmining import atomic
from smartmining.fingerprint import code_digest

STAMP_FILE = "STAMP.json"
# Changes under these paths do not make the tree "dirty": the pipeline rewrites them (results are committed).
OUTPUT_PATHS = ("results",)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def git_commit(cwd: Path) -> str:
    """HEAD's commit, with "-dirty" when tracked files outside results/ differ from it; "unknown" outside git."""
    head = _git(["rev-parse", "HEAD"], cwd)
    if head is None:
        return "unknown"
    top = (_git(["rev-parse", "--show-toplevel"], cwd) or str(cwd)).strip()
    status = _git(["status", "--porcelain", "--untracked-files=no", "--", ".",
                   *(f":(exclude){p}" for p in OUTPUT_PATHS)], Path(top)) or ""
    return head.strip() + ("-dirty" if status.strip() else "")


def cpu_model() -> str:
    """/proc/cpuinfo's "model name", else platform.processor(), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def make_stamp(cwd: Path | None = None) -> dict[str, str]:
    return {"commit": git_commit(Path(cwd or Path.cwd())), "code_digest": code_digest(), "cpu": cpu_model(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def header_line(stamp: dict[str, str]) -> str:
    """The stamp as REPORT.md's header says it."""
    return (f"Stamp: commit `{stamp['commit']}`, code digest `{stamp['code_digest']}`, CPU {stamp['cpu']}, "
            f"{stamp['date']}. Every file of this report carries it ([{STAMP_FILE}]({STAMP_FILE}) lists them; "
            "[readings.json](readings.json) holds every reading).")


def write_stamp_file(out_dir: Path, stamp: dict[str, str], written: list[Path]) -> Path:
    """STAMP.json: the stamp and the paths (relative to ``out_dir``) of the files the report wrote."""
    out_dir = Path(out_dir)
    files = sorted({Path(p).resolve().relative_to(out_dir.resolve()).as_posix() for p in written})
    path = out_dir / STAMP_FILE
    atomic.write_json(path, {**stamp, "files": files})
    return path


def describe(stamp: dict[str, Any] | None) -> str:
    """'commit abc1234, CPU X, 2025-01-01' for the replication section."""
    if not stamp:
        return "no stamp"
    return f"commit `{str(stamp.get('commit', '?'))[:12]}`, CPU {stamp.get('cpu', '?')}, {str(stamp.get('date', '?'))[:10]}"
