"""The run matrix of a profile, as the pipeline (Snakemake and DVC) sees it.

A run is (dataset, run name, seed). The run name is a method of the matrix (``smart+global``) or a sweep
point (``sweep-kappa-4``, ``sweep-fraction-0.2``) that is a method plus one overridden parameter.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from smartmining.config import apply_overrides
from smartmining.errors import SmartMiningError
from smartmining.methods import get_method

SWEEP_PARAMETER = {"kappa": "mining.kappa", "fraction": "train.mined_fraction"}
SWEEP_CONFIG_KEY = {"kappa": "kappa", "fraction": "mined_fraction"}


@dataclass(frozen=True)
class Run:
    dataset: str
    name: str
    seed: int

    @property
    def folder(self) -> str:
        return f"{self.dataset}/{self.name}/seed{self.seed}"


def format_value(value: float) -> str:
    return f"{value:g}"


def run_names(cfg: dict[str, Any]) -> list[str]:
    """The matrix's methods, then the sweep points, in a stable order."""
    names = list(cfg["methods"])
    for sweep, key in SWEEP_CONFIG_KEY.items():
        names += [f"sweep-{sweep}-{format_value(v)}" for v in cfg["sweeps"][key]["values"]]
    return names


def runs(cfg: dict[str, Any]) -> list[Run]:
    out = []
    for dataset in cfg["datasets"]:
        out += [Run(dataset, m, s) for m in cfg["methods"] for s in cfg["seeds"]]
        for sweep, key in SWEEP_CONFIG_KEY.items():
            spec = cfg["sweeps"][key]
            out += [Run(dataset, f"sweep-{sweep}-{format_value(v)}", s) for v in spec["values"] for s in spec["seeds"]]
    return out


def resolve_run(cfg: dict[str, Any], name: str) -> tuple[str, list[str]]:
    """Run name -> (method, parameter overrides)."""
    if not name.startswith("sweep-"):
        get_method(name)
        return name, []
    try:
        _, sweep, value = name.split("-", 2)
        param = SWEEP_PARAMETER[sweep]
        float(value)
    except (ValueError, KeyError):
        raise SmartMiningError(
            f"run name {name!r}: expected a method or sweep-kappa-VALUE / sweep-fraction-VALUE"
        ) from None
    method = cfg["sweeps"][SWEEP_CONFIG_KEY[sweep]]["method"]
    overrides = [f"{param}={value}"]
    if sweep == "kappa":  # Fig. 7 sweeps the initial kappa: the controller's too, where there is one
        overrides.append(f"controller.kappa0={value}")
    return method, overrides


TRAINING_CODE_EXCLUDES = ("report",)  # training and evaluation read every other part of the package


# Which sections of a profile each kind of run reads: a change elsewhere must not retrain it.
_SHARED_TRAIN = ("epochs", "batch_triplets", "triplets_per_epoch", "optimizer", "lr", "head_lr_mult",
                 "weight_decay", "momentum", "lr_step_epochs", "lr_gamma", "threads", "device", "amp", "skip_bad_images")


def run_config(cfg: dict[str, Any], dataset: str, method: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The parameters one run depends on, and nothing else (its cache key and its config.json)."""
    spec = get_method(method)
    full = apply_overrides(cfg, list(overrides))
    train_keys = list(_SHARED_TRAIN)
    if spec.miner == "semihard":
        train_keys += ["semihard_classes", "semihard_per_class"]
    if spec.offline:
        train_keys += ["warmup_epochs", "mined_fraction"]
    out: dict[str, Any] = {
        "profile": full.get("profile"),
        "dataset": dataset,
        "method": method,
        "data": {dataset: copy.deepcopy(full["data"].get(dataset, {}))},
        "model": full["model"],
        "transform": full["transform"],
        "train": {k: full["train"][k] for k in train_keys if k in full["train"]},
        "loss": {k: v for k, v in full["loss"].items() if spec.use_global or not k.startswith("global_")},
        "evaluation": full["evaluation"],
    }
    if spec.miner == "smart":
        out["mining"] = {k: v for k, v in full["mining"].items() if k != "hard_chunk"}
        if spec.adaptive:
            out["mining"].pop("kappa")  # the controller sets kappa
    elif spec.miner == "hard":
        out["mining"] = {"hard_chunk": full["mining"].get("hard_chunk", 1024)}
    if spec.adaptive:
        out["controller"] = full["controller"]
    return copy.deepcopy(out)


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_digest(*parts: str, exclude: tuple[str, ...] = ()) -> str:
    """Hash of the package's source files under the given subpackages/modules (all when none given),
    leaving out those under ``exclude``.

    The pipeline passes it as a parameter, so a change to the code a rule uses reruns that rule, and
    nothing depends on file times (which DVC checkouts change).
    """
    root = resources.files("smartmining")
    h = hashlib.sha256()
    for path in sorted(_source_files(root), key=str):
        rel = Path(str(path)).relative_to(Path(str(root))).as_posix()
        if (parts and not rel.startswith(parts)) or rel.startswith(exclude or ("\0",)):
            continue
        h.update(rel.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _source_files(node):  # type: ignore[no-untyped-def]
    for child in node.iterdir():
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            yield from _source_files(child)
        elif child.name.endswith((".py", ".yaml", ".json", ".csv")):
            yield child
