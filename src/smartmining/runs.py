"""The run matrix: the one owner of run names, of a profile's list of runs and of their folders.

A run is (dataset, run name, seed). A run name is one of:

- a method of the matrix (``smart+global``): a final run, trained with the hyperparameters the select
  stage chose for that method on validation classes (PAPER.md section 10);
- a tuning run ``tune<i>-<method>`` (smartmining.tuning): point i of the method's tuning design, trained
  with the tuning seeds; every method gets the same number (equal tuning) and the select stage judges them;
- a robustness sweep point ``sweep-<kind>-<value>`` (or ``sweep-<kind>-<value>_<method>`` for a sweep's
  second and later methods): a method at its chosen hyperparameters with one parameter set to the value.
  The kinds: ``kappa`` (fixed kappa, Fig. 7), ``fraction`` (mined fraction, Fig. 8), ``kappa0`` (the
  adaptive controller's initial kappa, Fig. 7, once per law).

The CLI, the Snakefile and the report ask this module; the trainer never sees a run name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartmining.config import apply_overrides, validate_profile
from smartmining.errors import SmartMiningError
from smartmining.methods import MethodSpec, get_method
from smartmining.tuning import chosen_values, design, method_grid, parse_tuning_name, tuning_point, tuning_run_name, tuning_spec


@dataclass(frozen=True)
class SweepKind:
    config_key: str  # key under the profile's ``sweeps``
    parameter: str  # the dotted parameter the sweep sets


SWEEPS: dict[str, SweepKind] = {
    "kappa": SweepKind("kappa", "mining.kappa"),
    "fraction": SweepKind("mined_fraction", "train.mined_fraction"),
    "kappa0": SweepKind("kappa0", "controller.kappa0"),
}


@dataclass(frozen=True)
class SweepPoint:
    sweep: str  # a key of SWEEPS
    value: float
    method: str | None = None  # None: the sweep's first method


@dataclass(frozen=True)
class Run:
    dataset: str
    name: str
    seed: int
    same_as: str | None = None  # a sweep point that trains exactly this method's final run of the seed

    @property
    def folder(self) -> str:
        """The run's folder under runs/<profile>/ (the final run's, for a sweep point equal to it)."""
        return f"{self.dataset}/{self.same_as or self.name}/seed{self.seed}"

    @property
    def sweep(self) -> SweepPoint | None:
        return sweep_point(self.name)


def format_value(value: float) -> str:
    return f"{value:g}"


def override_value(value: float) -> str:
    """A number as an override YAML reads back as a number (YAML reads 5e-05 as a string)."""
    return f"{float(value):.12f}".rstrip("0").rstrip(".") or "0"


def sweep_run_name(sweep: str, value: float, method: str | None = None) -> str:
    return f"sweep-{sweep}-{format_value(value)}" + (f"_{method}" if method else "")


def sweep_point(name: str) -> SweepPoint | None:
    """``sweep-kappa-4`` -> SweepPoint("kappa", 4.0); a method or tuning name -> None; anything else: an error."""
    if not name.startswith("sweep-"):
        return None
    try:
        _, sweep, rest = name.split("-", 2)
        value, _, method = rest.partition("_")
        if sweep not in SWEEPS:
            raise KeyError(sweep)
        if method:
            get_method(method)
        return SweepPoint(sweep, float(value), method or None)
    except (ValueError, KeyError, SmartMiningError):
        kinds = ", ".join(f"sweep-{k}-VALUE" for k in SWEEPS)
        raise SmartMiningError(f"run name {name!r}: expected a method, tune<I>-<method> or one of {kinds} "
                               f"(optionally _<method>)") from None


def sweep_spec(cfg: dict[str, Any], sweep: str) -> dict[str, Any]:
    """The profile's sweep section for a kind, ``methods`` always a list (empty values where there is none)."""
    spec = dict((cfg.get("sweeps") or {}).get(SWEEPS[sweep].config_key) or {"method": None, "values": [], "seeds": []})
    method = spec.get("method")
    spec["methods"] = [m for m in (method if isinstance(method, list) else [method]) if m]
    return spec


def sweep_methods(cfg: dict[str, Any], point: SweepPoint) -> str:
    spec = sweep_spec(cfg, point.sweep)
    if point.method is None:
        if not spec["methods"]:
            raise SmartMiningError(f"sweep {point.sweep!r}: the profile's sweeps.{SWEEPS[point.sweep].config_key} "
                                   f"names no method")
        return spec["methods"][0]
    return point.method


def run_method(cfg: dict[str, Any], name: str) -> MethodSpec:
    point = sweep_point(name)
    if point is not None:
        return get_method(sweep_methods(cfg, point))
    tuned = parse_tuning_name(name)
    return get_method(tuned[0] if tuned else name)


def profile_runs(cfg: dict[str, Any], *, kinds: tuple[str, ...] = ("matrix", "tuning", "robustness"),
                 selections: dict[str, dict[str, Any]] | None = None) -> list[Run]:
    """The profile's runs in a stable order: the matrix (methods x seeds), the tuning runs, the sweeps' points.

    With the select stage's choices (``selections``: dataset -> selection file content), a sweep point that
    equals a final run is that run (``same_as``): no run is trained twice."""
    out: list[Run] = []
    tuning = tuning_spec(cfg)
    for dataset in cfg["datasets"]:
        if "matrix" in kinds:
            out += [Run(dataset, m, int(s)) for m in cfg["methods"] for s in cfg["seeds"]]
        if "tuning" in kinds:
            out += [Run(dataset, tuning_run_name(m, i), int(s)) for m in cfg["methods"]
                    for i in range(len(design(cfg, m))) for s in tuning["seeds"]]
        if "robustness" in kinds:
            for sweep in SWEEPS:
                spec = sweep_spec(cfg, sweep)
                for j, method in enumerate(spec["methods"]):
                    out += [Run(dataset, sweep_run_name(sweep, v, method if j else None), int(s),
                                same_as=_final_equal(cfg, dataset, sweep, method, v, int(s), selections))
                            for v in spec["values"] for s in spec["seeds"]]
    return out


def _final_equal(cfg: dict[str, Any], dataset: str, sweep: str, method: str, value: float, seed: int,
                 selections: dict[str, dict[str, Any]] | None) -> str | None:
    """The method, where its final run of ``seed`` trains with ``value`` of the swept parameter."""
    if not selections or dataset not in selections or method not in cfg["methods"] or seed not in map(int, cfg["seeds"]):
        return None
    parameter = SWEEPS[sweep].parameter
    section, param = parameter.split(".")
    final = chosen_values(selections[dataset], method).get(parameter, (cfg.get(section) or {}).get(param))
    return method if final is not None and float(final) == float(value) else None


def selection_runs(cfg: dict[str, Any], dataset: str) -> list[Run]:
    """The runs the select stage judges: the tuning runs."""
    return [r for r in profile_runs(cfg, kinds=("tuning",)) if r.dataset == dataset]


def selected_keys(cfg: dict[str, Any], name: str) -> list[str]:
    """The parameters chosen by the select stage that this run trains with (none for tuning runs)."""
    spec = run_method(cfg, name)
    if parse_tuning_name(name) or not tuning_spec(cfg).get("runs_per_method") or spec.name not in cfg["methods"]:
        return []  # a sweep of a method outside the matrix trains with the profile's values
    point = sweep_point(name)
    return [k for k in method_grid(cfg, spec) if point is None or k != SWEEPS[point.sweep].parameter]


def run_profile(cfg: dict[str, Any], name: str, selection: dict[str, Any] | None = None) -> tuple[MethodSpec, dict[str, Any]]:
    """The method and the full profile a run trains with: tuning point, choices, sweep value; re-validated."""
    spec = run_method(cfg, name)
    overrides = []
    if parse_tuning_name(name):
        overrides += [f"{p}={override_value(v)}" for p, v in tuning_point(cfg, name)[1].items()]
    chosen = chosen_values(selection, spec.name)
    for key in selected_keys(cfg, name):
        if key not in chosen:
            raise SmartMiningError(
                f"run {name!r} trains with the {key} chosen on validation classes for {spec.name!r}, but the selection "
                f"holds none (run the pipeline's select stage, or pass --selection results/<profile>/selection/<dataset>.json)")
        overrides.append(f"{key}={override_value(chosen[key])}")
    point = sweep_point(name)
    if point is not None:
        overrides.append(f"{SWEEPS[point.sweep].parameter}={override_value(point.value)}")
    full = apply_overrides(cfg, overrides)
    validate_profile(full, f"run {name!r}")
    return spec, full


# Which sections of a profile each kind of run reads: a change elsewhere must not retrain it.
_SHARED_TRAIN = ("epochs", "batch_triplets", "triplets_per_epoch", "optimizer", "lr", "head_lr_mult",
                 "weight_decay", "momentum", "lr_step_epochs", "lr_gamma", "threads", "device", "amp", "skip_bad_images", "redraw_split")


@dataclass(frozen=True)
class ResolvedRun:
    """A run's method, full profile, and ``key``: what it depends on (cache key, config.json, rerun test)."""

    dataset: str
    method: MethodSpec
    profile: dict[str, Any]
    key: dict[str, Any]


def resolve(cfg: dict[str, Any], dataset: str, name: str, selection: dict[str, Any] | None = None) -> ResolvedRun:
    spec, full = run_profile(cfg, name, selection)
    return ResolvedRun(dataset, spec, full, run_key(full, dataset, spec))


def cache_key(cfg: dict[str, Any], dataset: str, name: str, selection: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's key. Without ``selection``, the selected hyperparameters are left out (the pipeline adds
    the method's chosen values once the select stage has run, so a new choice reruns that method only)."""
    if selection is not None:
        return resolve(cfg, dataset, name, selection).key
    chosen = selected_keys(cfg, name)
    spec, full = run_profile(cfg, name, {"methods": {run_method(cfg, name).name: {"chosen": {k: _current(cfg, k) for k in chosen}}}})
    key = run_key(full, dataset, spec)
    for parameter in chosen:
        section, param = parameter.split(".")
        key.get(section, {}).pop(param, None)
    return key


def _current(cfg: dict[str, Any], parameter: str) -> Any:
    section, param = parameter.split(".")
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
        "data": {dataset: {k: v for k, v in dataset_options(full, dataset).items() if k != "skip_bad_images"}},
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
FEATURES_DIR = "runs/{profile}/{dataset}/_features"
RESULTS_DIR = "results/{profile}"
SELECTION_FILE = "results/{profile}/selection/{dataset}.json"


def prepare_options(cfg: dict[str, Any], dataset: str) -> dict[str, Any]:
    """What ``prepare`` is given for a dataset: the profile's data section, fetch options included."""
    return {**cfg["data"].get(dataset, {}), "skip_bad_images": bool(cfg["train"].get("skip_bad_images", False))}


def dataset_options(cfg: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The options that identify a prepared dataset: ``prepare_options`` less the fetch options (local archives,
    URLs, checksums, the download folder, retries, progress), which change how the files arrive, not the data.
    The prepare rule's parameters and the runs' cache keys hold these."""
    from smartmining.data import registry  # importing the package registers the datasets

    options = prepare_options(cfg, dataset)
    return registry.identity_options(dataset, options) if dataset in registry.DATASETS else options


def init_path(cfg: dict[str, Any], dataset: str) -> Path | None:
    """The pretrain stage's backbone a run of this profile starts from (None: the backbone as built)."""
    if cfg["model"]["init"] != "pretrain":
        return None
    return Path(PRETRAIN_DIR.format(profile=cfg["profile"], dataset=dataset)) / "backbone.pt"


def features_dir(cfg: dict[str, Any], dataset: str) -> Path | None:
    """The features stage's folder a run of this profile reads (None: the run computes its whole network)."""
    if not cfg["model"].get("cache_frozen"):
        return None
    return Path(FEATURES_DIR.format(profile=cfg["profile"], dataset=dataset))
