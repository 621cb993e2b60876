"""Checkpoints: everything a run needs to resume exactly where it stopped, written atomically."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smartmining.atomic import atomic_path
from smartmining.errors import SmartMiningError

CHECKPOINT_NAME = "checkpoint.pt"


def rng_states(rng: np.random.Generator) -> dict[str, Any]:
    """Every random source a run draws from: ours (numpy), torch's CPU and CUDA generators, Python's."""
    states: dict[str, Any] = {
        "numpy": rng.bit_generator.state,
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any], rng: np.random.Generator) -> None:
    rng.bit_generator.state = states["numpy"]
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write to a temporary file and rename: a kill mid-write leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a checkpoint we cannot read must not be silently replaced
        raise SmartMiningError(
            f"{path}: cannot read the checkpoint ({exc}); move it away to start the run afresh"
        ) from exc
