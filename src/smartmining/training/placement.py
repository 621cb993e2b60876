"""Where a job computes: its device, threads and autocast, decided once and logged as the job's first line.

- ``train.threads`` is the profile's; a pipeline job passes the threads Snakemake allotted (``--threads``).
- ``device: auto`` takes a GPU where one is visible; on a profile that asks for one (``resources.train.gpu``)
  and finds none it warns loudly, since a CPU run of such a profile takes days.
- With several visible GPUs, each job claims one that no other job of this machine holds (a lock file per
  device), so jobs that Snakemake runs side by side do not share a device.
- bfloat16 autocast is used only on CUDA: on the CPUs measured it ran 2.5-5x slower than float32.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import IO

import torch

from smartmining.settings import Settings
from smartmining.training.data import resolve_device

log = logging.getLogger(__name__)
_HELD: list[IO[str]] = []  # the lock files of the GPUs this process claimed, open for its lifetime


def claim_gpu(count: int, lock_dir: Path | None = None) -> int:
    """The index of a visible GPU that no other process of this machine has claimed (the first when all are)."""
    lock_dir = Path(lock_dir or tempfile.gettempdir())
    for index in range(count):
        try:
            uid = str(torch.cuda.get_device_properties(index).uuid)
        except (AttributeError, RuntimeError, AssertionError):
            uid = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[index] if count > 1 else str(index)
        handle = open(lock_dir / f"smartmining-gpu-{uid}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _HELD.append(handle)
        return index
    log.warning("all %d visible GPUs are held by other smartmining jobs; sharing GPU 0", count)
    return 0


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)


def place(settings: Settings, *, threads: int | None = None, wants_gpu: bool = False, job: str = "job",
          distributed: bool = False) -> tuple[Settings, str]:
    """The settings this process computes with (threads, device, autocast) and the device's description;
    logs them first thing."""
    t = settings.train
    threads = threads or t.threads
    torch.set_num_threads(threads)
    device = resolve_device(t.device)
    if device.type == "cuda" and device.index is None and not distributed and torch.cuda.device_count() > 1:
        device = torch.device("cuda", claim_gpu(torch.cuda.device_count()))
    amp = t.amp and device.type == "cuda"
    name = describe(device)
    log.info("device: %s, %d threads, %s (%s)", name, threads, "bfloat16 autocast" if amp else "float32", job)
    if wants_gpu and device.type != "cuda":
        log.warning("!" * 20 + " NO GPU " + "!" * 20)
        log.warning("this profile asks for a GPU (resources.train.gpu) and train.device = %r, but no CUDA device is "
                    "visible: training on the CPU, orders of magnitude slower. Check CUDA_VISIBLE_DEVICES and "
                    "`python -c 'import torch; print(torch.cuda.is_available())'`, or set train.device: cpu", t.device)
    if t.amp and not amp:
        log.info("train.amp is on but the device is the CPU: autocast off (bfloat16 on a CPU ran 2.5-5x slower "
                 "than float32)")
    return replace(settings, train=replace(t, threads=threads, amp=amp, device=str(device))), name
