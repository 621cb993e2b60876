"""Whether a checkpoint resumes the run asked for: same method, seed, parameters and training code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smartmining.errors import SmartMiningError
from smartmining.fingerprint import training_code


def _without_epochs(key: dict[str, Any] | None) -> str:
    """The parameters but the number of epochs: raising it continues a run rather than restarting it."""
    key = dict(key or {})
    key["train"] = {k: v for k, v in (key.get("train") or {}).items() if k != "epochs"}
    return json.dumps(key, sort_keys=True, default=str)


def same_config(state: dict[str, Any], key: dict[str, Any]) -> bool:
    return _without_epochs(state.get("config")) == _without_epochs(key) and int(state.get("epoch", 0)) <= int(
        key.get("train", {}).get("epochs", 0))


def same_run(state: dict[str, Any], key: dict[str, Any], seed: int) -> bool:
    """Written by this run with these parameters and this training code (the pipeline's notion of a rerun)."""
    return state.get("seed") == seed and state.get("code") == training_code() and same_config(state, key)


def check_resumable(state: dict[str, Any], key: dict[str, Any], seed: int, path: Path) -> None:
    """A checkpoint resumes only the run that wrote it: same config, method and seed."""
    method = key.get("method")
    if state.get("config", {}).get("method") != method or state.get("seed") != seed:
        raise SmartMiningError(
            f"{path} belongs to method {state.get('config', {}).get('method')!r} seed {state.get('seed')}, not "
            f"{method!r} seed {seed}; use another --out or remove the checkpoint"
        )
    if not same_config(state, key):
        raise SmartMiningError(
            f"{path} was written with other parameters than the ones given now; remove the run folder "
            f"{path.parent} (or pass --restart) to train afresh with the new ones"
        )
