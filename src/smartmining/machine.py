"""What this machine offers the pipeline's local jobs: its CPUs and its visible GPUs."""

from __future__ import annotations

import os


def machine_cpus() -> int:
    """CPUs this process may run on (its affinity: a container's or a SLURM job's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus(probe: bool = True) -> int:
    """CUDA devices this process can see: CUDA_VISIBLE_DEVICES where set (as CUDA reads it: up to the first
    invalid entry), else torch's count; 0 without asking torch when ``probe`` is false."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        count = 0
        for entry in listed.split(","):
            entry = entry.strip()
            if not entry or entry.startswith("-"):
                break
            count += 1
        return count
    if not probe:
        return 0
    import torch  # only where a profile asks for GPUs: importing torch takes seconds

    return int(torch.cuda.device_count())
