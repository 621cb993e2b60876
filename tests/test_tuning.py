"""Equal tuning: every method gets the same number of validation runs over the grids that apply to it."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from smartmining.config import apply_overrides, load_params
from smartmining.errors import SmartMiningError
from smartmining.methods import get_method
from smartmining.runs import Run, profile_runs, resolve, run_profile, selected_keys, sweep_point
from smartmining.tuning import check_tuning, design, method_grid, parse_tuning_name, tuning_point, tuning_run_name

ROOT = Path(__file__).resolve().parents[1]


def cpu(*overrides: str) -> dict:
    return load_params(ROOT / "params.yaml", "cpu", list(overrides))


def test_which_grids_apply_to_which_method() -> None:
    cfg = cpu()
    grids = {m: set(method_grid(cfg, get_method(m))) for m in [*cfg["methods"], "smart-xbm"]}
    assert grids["random"] == grids["semihard"] == grids["random+global"] == {"train.lr"}
    assert grids["hard"] == {"train.lr", "train.mined_fraction"}
    assert grids["smart"] == grids["smart+global"] == {"train.lr", "train.mined_fraction", "mining.kappa"}
    assert grids["smart+global+adaptive"] == {"train.lr", "train.mined_fraction", "controller.target_error"}
    assert grids["smart-xbm"] == {"train.lr", "mining.kappa"}


@pytest.mark.parametrize("method", ["random", "hard", "smart", "smart+global+adaptive", "smart-xbm"])
def test_design_is_balanced_distinct_inside_the_grid_and_stable(method: str) -> None:
    cfg = cpu()
    n = cfg["tuning"]["runs_per_method"]
    points = design(cfg, method)
    grid = method_grid(cfg, get_method(method))
    assert len(points) == n and len({tuple(sorted(p.items())) for p in points}) == n
    space = {tuple(zip(grid, values)) for values in itertools.product(*grid.values())}
    assert all(tuple((k, p[k]) for k in grid) in space for p in points)
    for parameter, values in grid.items():  # each value tried floor(n/len) or ceil(n/len) times
        counts = Counter(p[parameter] for p in points)
        assert set(counts) <= set(values)
        assert max(counts.values()) - min(counts.get(v, 0) for v in values) <= 1
    assert design(cpu(), method) == points  # the same points on every call
    assert design(cpu("tuning.sample_seed=7"), method) != points or len(space) == n


def test_a_method_with_too_small_a_space_is_an_error_naming_it() -> None:
    with pytest.raises(SmartMiningError, match="'random' has only 1 configurations .*tuning.lr"):
        cpu("tuning.lr=[0.001]")


def test_tuning_seeds_may_not_be_final_seeds() -> None:
    with pytest.raises(SmartMiningError, match="share \\[0\\]"):
        cpu("tuning.seeds=[0]")


def test_tuning_run_names_round_trip_and_resolve_to_their_point() -> None:
    cfg = cpu()
    assert parse_tuning_name(tuning_run_name("smart+global", 3)) == ("smart+global", 3)
    assert parse_tuning_name("smart+global") is None and sweep_point("tune1-smart") is None
    method, values = tuning_point(cfg, "tune1-smart")
    _, full = run_profile(cfg, "tune1-smart")
    assert method == "smart" and values == design(cfg, "smart")[1]
    for parameter, value in values.items():
        section, key = parameter.split(".")
        assert full[section][key] == pytest.approx(value)
    with pytest.raises(SmartMiningError, match="index 9 is out of range"):
        tuning_point(cfg, "tune9-smart")


def selection(cfg: dict) -> dict:
    return {"methods": {m: {"chosen": design(cfg, m)[1]} for m in cfg["methods"]}}


def test_final_runs_train_with_their_methods_choice_and_need_one() -> None:
    cfg = cpu()
    chosen = selection(cfg)
    full = resolve(cfg, "glyphs", "smart+global", chosen).profile
    for parameter, value in chosen["methods"]["smart+global"]["chosen"].items():
        section, key = parameter.split(".")
        assert full[section][key] == pytest.approx(value)
    assert resolve(cfg, "glyphs", "smart+global", chosen).key != resolve(cfg, "glyphs", "smart", chosen).key
    with pytest.raises(SmartMiningError, match="chosen on validation classes for 'smart'"):
        resolve(cfg, "glyphs", "smart", {"methods": {}})


def test_a_sweep_point_keeps_its_value_and_takes_the_methods_other_choices() -> None:
    cfg = cpu()
    chosen = selection(cfg)
    assert "mining.kappa" not in selected_keys(cfg, "sweep-kappa-16")
    full = resolve(cfg, "glyphs", "sweep-kappa-16", chosen).profile
    assert full["mining"]["kappa"] == 16
    assert full["train"]["lr"] == chosen["methods"]["smart+global"]["chosen"]["train.lr"]


def test_no_run_is_trained_twice() -> None:
    cfg = cpu()
    chosen = selection(cfg)
    kappa = chosen["methods"]["smart+global"]["chosen"]["mining.kappa"]
    cfg = apply_overrides(cfg, [f"sweeps.kappa.values=[{kappa:g},64]"])
    runs = profile_runs(cfg, selections={"glyphs": chosen})
    equal = [r for r in runs if r.name == f"sweep-kappa-{kappa:g}"]
    assert equal == [Run("glyphs", f"sweep-kappa-{kappa:g}", 0, same_as="smart+global")]
    assert equal[0].folder == Run("glyphs", "smart+global", 0).folder
    assert [r.same_as for r in runs if r.name == "sweep-kappa-64"] == [None]
    keys = {}
    for run in runs:  # every distinct folder is a distinct configuration
        key = str(sorted(resolve(cfg, run.dataset, run.name, chosen).key.items())) + str(run.seed)
        keys.setdefault(key, set()).add(run.folder)
    assert all(len(folders) == 1 for folders in keys.values())


def test_small_grid_values_survive_the_override_as_numbers() -> None:
    cfg = cpu("tuning.lr=[0.00005,0.0001,0.0002]")
    for index, point in enumerate(design(cfg, "random")):
        _, full = run_profile(cfg, tuning_run_name("random", index))
        assert isinstance(full["train"]["lr"], float) and full["train"]["lr"] == pytest.approx(point["train.lr"])
