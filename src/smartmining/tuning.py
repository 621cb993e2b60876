"""Equal tuning (PAPER.md section 10): every method of the matrix gets the same number of validation runs.

A method's search space is the product of the grids in the profile's ``tuning`` section that apply to it:
the learning rate for every method (one common grid), the mined fraction for every offline miner, the fixed
kappa for the fixed-kappa smart miners (chosen at the fraction it runs with: the two are drawn jointly), the
target error for each adaptive law. Each method gets exactly ``tuning.runs_per_method`` points of its space:
all of them when the space is that small, otherwise a balanced design (each value of each parameter tried
about equally often; a Latin hypercube over discrete grids) drawn with ``tuning.sample_seed``. Tuning runs
train with the seeds ``tuning.seeds``, which no final run uses, so no run is trained twice, and each seed
redraws its own class split where ``train.redraw_split`` is on. The select stage reads only their
validation columns.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from smartmining.errors import SmartMiningError
from smartmining.methods import MethodSpec, get_method


@dataclass(frozen=True)
class Tuned:
    parameter: str  # the dotted profile parameter
    applies: Callable[[MethodSpec], bool]


# The tuning section's grids, in the order a design lists them.
TUNED: dict[str, Tuned] = {
    "lr": Tuned("train.lr", lambda spec: True),
    "mined_fraction": Tuned("train.mined_fraction", lambda spec: spec.offline),
    "kappa": Tuned("mining.kappa", lambda spec: spec.miner in ("smart", "xbm") and not spec.adaptive),
    "target_error": Tuned("controller.target_error", lambda spec: spec.adaptive),
}
_NAME = re.compile(r"tune(\d+)-(.+)")


def tuning_spec(cfg: dict[str, Any]) -> dict[str, Any]:
    """The profile's tuning section (no tuning where the profile has none)."""
    return cfg.get("tuning") or {"runs_per_method": 0, "seeds": []}


def method_grid(cfg: dict[str, Any], spec: MethodSpec) -> dict[str, list[float]]:
    """The grids of the tuning section that apply to a method (parameter -> values)."""
    tuning = tuning_spec(cfg)
    return {t.parameter: [float(v) for v in tuning[key]] for key, t in TUNED.items()
            if tuning.get(key) and t.applies(spec)}


def design(cfg: dict[str, Any], method: str) -> list[dict[str, float]]:
    """The method's ``runs_per_method`` tuning points (parameter -> value), in a stable order."""
    tuning = tuning_spec(cfg)
    n = int(tuning.get("runs_per_method") or 0)
    if n == 0:
        return []
    grid = method_grid(cfg, get_method(method))
    names = list(grid)
    space = [dict(zip(names, values)) for values in itertools.product(*grid.values())]
    if len(space) < n:
        sizes = " x ".join(f"{p} ({len(v)})" for p, v in grid.items()) or "no tuned parameter"
        raise SmartMiningError(
            f"tuning.runs_per_method = {n}, but method {method!r} has only {len(space)} configurations "
            f"({sizes}): give tuning.lr more values or lower runs_per_method, so every method gets the same number")
    if len(space) == n:
        return space
    rng = np.random.default_rng([int(tuning.get("sample_seed", 0)), zlib.crc32(method.encode())])
    for _ in range(200):  # balanced columns; redraw until the points are distinct
        columns = [rng.permutation(np.resize(np.asarray(grid[p]), n)) for p in names]
        points = [dict(zip(names, (float(c[i]) for c in columns))) for i in range(n)]
        if len({tuple(p.values()) for p in points}) == n:
            return points
    picked = rng.choice(len(space), size=n, replace=False)  # grids too lopsided to balance: plain random search
    return [space[i] for i in sorted(picked)]


def tuning_run_name(method: str, index: int) -> str:
    return f"tune{index}-{method}"


def parse_tuning_name(name: str) -> tuple[str, int] | None:
    """``tune2-smart+global`` -> ("smart+global", 2); any other name -> None."""
    match = _NAME.fullmatch(name)
    return (match.group(2), int(match.group(1))) if match else None


def tuning_point(cfg: dict[str, Any], name: str) -> tuple[str, dict[str, float]]:
    """The method and the parameter values of a tuning run, or an error naming what is wrong."""
    parsed = parse_tuning_name(name)
    if parsed is None:
        raise SmartMiningError(f"run name {name!r} is not a tuning run (expected tune<INDEX>-<method>)")
    method, index = parsed
    points = design(cfg, method)
    if index >= len(points):
        raise SmartMiningError(f"run {name!r}: method {method!r} has {len(points)} tuning runs "
                               f"(tuning.runs_per_method), index {index} is out of range")
    return method, points[index]


def chosen_values(selection: dict[str, Any] | None, method: str) -> dict[str, float]:
    """A method's chosen values from a selection file's content (parameter -> value)."""
    methods = (selection or {}).get("methods") or {}
    return dict((methods.get(method) or {}).get("chosen") or {})


def check_tuning(cfg: dict[str, Any]) -> None:
    """Every method of the matrix can be given the same budget, and no final seed is a tuning seed."""
    tuning = tuning_spec(cfg)
    if not tuning.get("runs_per_method"):
        return
    shared = sorted(set(map(int, tuning["seeds"])) & set(map(int, cfg["seeds"])))
    if shared:
        raise SmartMiningError(f"tuning.seeds and seeds share {shared}: a tuning run would be trained twice, "
                               f"as the final run of that seed; give tuning its own seeds")
    for method in cfg["methods"]:
        design(cfg, method)
