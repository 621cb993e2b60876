"""The run matrix: the one owner of run names, of a profile's list of runs and of their folders.

A run is (dataset, run name, seed). A run name is a method of the matrix (``smart+global``) or a sweep
point ``sweep-<kind>-<value>``: a method with one parameter set to the value. The kinds:

- ``kappa`` (fixed kappa of ``smart``/``smart+global``) and ``fraction`` (mined fraction): *selection*
  sweeps, judged on validation classes by the pipeline's ``select`` stage, whose choice the final runs
  then train with (PAPER.md section 10);
- ``kappa0`` (the adaptive controller's initial kappa): a robustness sweep reported beside the matrix
  (Fig. 7); ``kappa0paper`` the same for the paper's law (``sweeps.kappa0_paper``), drawn beside it.

Everything else (the CLI, the Snakefile, the report) asks this module; the trainer receives a resolved
configuration and never sees a run name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartmining.config import apply_overrides, validate_profile
from smartmining.errors import SmartMiningError
from smartmining.methods import MethodSpec, get_method


@dataclass(frozen=True)
class SweepKind:
    config_key: str  # key under the profile's ``sweeps``
    parameter: str  # the dotted parameter the sweep sets
    selects: str | None  # the hyperparameter the select stage chooses from it (None: not a selection sweep)


SWEEPS: dict[str, SweepKind] = {
    "kappa": SweepKind("kappa", "mining.kappa", "kappa"),
    "fraction": SweepKind("mined_fraction", "train.mined_fraction", "mined_fraction"),
    "kappa0": SweepKind("kappa0", "controller.kappa0", None),
    "kappa0paper": SweepKind("kappa0_paper", "controller.kappa0", None),  # the same for the paper's law
}
# Where each selected hyperparameter lands in the profile.
SELECTED_PARAMETER = {kind.selects: kind.parameter for kind in SWEEPS.values() if kind.selects}


@dataclass(frozen=True)
class SweepPoint:
    sweep: str  # a key of SWEEPS
    value: float


@dataclass(frozen=True)
class Run:
    dataset: str
    name: str
    seed: int

    @property
    def folder(self) -> str:
        """The run's folder under runs/<profile>/."""
        return f"{self.dataset}/{self.name}/seed{self.seed}"

    @property
    def sweep(self) -> SweepPoint | None:
        return sweep_point(self.name)


def format_value(value: float) -> str:
    return f"{value:g}"


def sweep_run_name(sweep: str, value: float) -> str:
    return f"sweep-{sweep}-{format_value(value)}"


def sweep_point(name: str) -> SweepPoint | None:
    """``sweep-kappa-4`` -> SweepPoint("kappa", 4.0); a method name -> None; anything else: an error."""
    if not name.startswith("sweep-"):
        return None
    try:
        _, sweep, value = name.split("-", 2)
        if sweep not in SWEEPS:
            raise KeyError(sweep)
        return SweepPoint(sweep, float(value))
    except (ValueError, KeyError):
        kinds = ", ".join(f"sweep-{k}-VALUE" for k in SWEEPS)
        raise SmartMiningError(f"run name {name!r}: expected a method or one of {kinds}") from None


def sweep_spec(cfg: dict[str, Any], sweep: str) -> dict[str, Any]:
    """The profile's sweep section for a kind (empty values where the profile has none)."""
    return (cfg.get("sweeps") or {}).get(SWEEPS[sweep].config_key) or {"method": None, "values": [], "seeds": []}


def run_method(cfg: dict[str, Any], name: str) -> MethodSpec:
    point = sweep_point(name)
    return get_method(sweep_spec(cfg, point.sweep)["method"] if point else name)


def profile_runs(cfg: dict[str, Any], *, kinds: tuple[str, ...] = ("matrix", "selection", "robustness")) -> list[Run]:
    """The profile's runs in a stable order: the matrix (methods x seeds), then each sweep's points."""
    out: list[Run] = []
    for dataset in cfg["datasets"]:
        if "matrix" in kinds:
            out += [Run(dataset, m, int(s)) for m in cfg["methods"] for s in cfg["seeds"]]
        for sweep, kind in SWEEPS.items():
            if ("selection" if kind.selects else "robustness") not in kinds:
                continue
            spec = sweep_spec(cfg, sweep)
            out += [Run(dataset, sweep_run_name(sweep, v), int(s)) for v in spec["values"] for s in spec["seeds"]]
    return out


def selection_runs(cfg: dict[str, Any], dataset: str) -> list[Run]:
    return [r for r in profile_runs(cfg, kinds=("selection",)) if r.dataset == dataset]


def selected_keys(cfg: dict[str, Any], name: str) -> list[str]:
    """The hyperparameters chosen by the select stage that this run trains with (none for selection runs)."""
    point = sweep_point(name)
    if point is not None and SWEEPS[point.sweep].selects:
        return []  # a selection run varies its own parameter and keeps the profile's others
    spec = run_method(cfg, name)
    keys = []
    if spec.offline and sweep_spec(cfg, "fraction")["values"]:
        keys.append("mined_fraction")
    if spec.miner in ("smart", "xbm") and not spec.adaptive and sweep_spec(cfg, "kappa")["values"]:
        keys.append("kappa")
    return keys


def run_profile(cfg: dict[str, Any], name: str, selection: dict[str, Any] | None = None) -> tuple[MethodSpec, dict[str, Any]]:
    """The method and the full profile a run trains with: sweep value and selected values applied, re-validated."""
    spec = run_method(cfg, name)
    overrides = []
    point = sweep_point(name)
    if point is not None:
        overrides.append(f"{SWEEPS[point.sweep].parameter}={format_value(point.value)}")
    for key in selected_keys(cfg, name):
        if not selection or key not in selection:
            raise SmartMiningError(
                f"run {name!r} trains with the {key} chosen on validation classes, but no selection was given "
                f"(run the pipeline's select stage, or pass --selection results/<profile>/selection.json)"
            )
        overrides.append(f"{SELECTED_PARAMETER[key]}={selection[key]['chosen']}")
    full = apply_overrides(cfg, overrides)
    validate_profile(full, f"run {name!r}")
    return spec, full


# Which sections of a profile each kind of run reads: a change elsewhere must not retrain it.
_SHARED_TRAIN = ("epochs", "batch_triplets", "triplets_per_epoch", "optimizer", "lr", "head_lr_mult",
                 "weight_decay", "momentum", "lr_step_epochs", "lr_gamma", "threads", "device", "amp", "skip_bad_images")


@dataclass(frozen=True)
class ResolvedRun:
    """What one run trains with: its method, the full profile, and ``key``: the parameters it depends on
    and nothing else (its cache key, its config.json, the checkpoint's rerun test)."""

    dataset: str
    method: MethodSpec
    profile: dict[str, Any]
    key: dict[str, Any]


def resolve(cfg: dict[str, Any], dataset: str, name: str, selection: dict[str, Any] | None = None) -> ResolvedRun:
    spec, full = run_profile(cfg, name, selection)
    return ResolvedRun(dataset, spec, full, run_key(full, dataset, spec))


def cache_key(cfg: dict[str, Any], dataset: str, name: str) -> dict[str, Any]:
    """The run's key before selection: the selected hyperparameters left out (the select stage's file is an
    input of the run instead, so a new choice reruns it)."""
    chosen = selected_keys(cfg, name)
    spec, full = run_profile(cfg, name, {key: {"chosen": _current(cfg, key)} for key in chosen})
    key = run_key(full, dataset, spec)
    for name_ in chosen:
        section, param = SELECTED_PARAMETER[name_].split(".")
        key.get(section, {}).pop(param, None)
    return key


def _current(cfg: dict[str, Any], selected: str) -> Any:
    section, param = SELECTED_PARAMETER[selected].split(".")
    return cfg[section][param]


def run_key(full: dict[str, Any], dataset: str, spec: MethodSpec) -> dict[str, Any]:
    train_keys = list(_SHARED_TRAIN)
    if spec.miner in ("semihard", "xbm"):
        train_keys += ["semihard_classes", "semihard_per_class"]
    if spec.offline:
        train_keys += ["warmup_epochs", "mined_fraction"]
    out: dict[str, Any] = {
        "profile": full.get("profile"),
        "dataset": dataset,
        "method": spec.name,
        "data": {dataset: full["data"].get(dataset, {})},
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
        out["mining"] = {"hard_chunk": full["mining"]["hard_chunk"]}
    elif spec.miner == "xbm":
        out["mining"] = {k: full["mining"][k] for k in ("kappa", "xbm_memory")}
    if spec.adaptive:  # with the law the run steers by (a method may force one)
        out["controller"] = {**full["controller"], "law": spec.controller_law(full["controller"].get("law", "ours"))}
    if full["model"].get("init") == "pretrain":
        out["pretrain"] = full["pretrain"]
    return copy.deepcopy(out)


# Where the pipeline keeps things (Snakemake formats these templates too; one owner of the layout).
DATA_DIR = "data/{profile}/{dataset}"
PRETRAIN_DIR = "runs/{profile}/{dataset}/_pretrain"
RESULTS_DIR = "results/{profile}"
SELECTION_FILE = "results/{profile}/selection/{dataset}.json"


def dataset_options(cfg: dict[str, Any], dataset: str) -> dict[str, Any]:
    """What ``prepare`` is given for a dataset (and what training checks the prepared folder against)."""
    return {**cfg["data"].get(dataset, {}), "skip_bad_images": bool(cfg["train"].get("skip_bad_images", False))}


def init_path(cfg: dict[str, Any], dataset: str) -> Path | None:
    """The pretrain stage's backbone a run of this profile starts from (None: the backbone as built)."""
    if cfg["model"]["init"] != "pretrain":
        return None
    return Path(PRETRAIN_DIR.format(profile=cfg["profile"], dataset=dataset)) / "backbone.pt"
