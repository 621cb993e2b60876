from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smartmining.config import apply_overrides, deep_merge, load_params
from smartmining.errors import SmartMiningError
from smartmining.methods import METHODS, get_method

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def write_params(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(PARAMS.read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("profile", ["cpu", "smoke", "paper"])
def test_every_profile_of_params_yaml_validates(profile: str) -> None:
    cfg = load_params(PARAMS, profile)
    assert cfg["profile"] == profile
    assert set(cfg["methods"]) <= set(METHODS)


def test_default_profile_is_cpu_with_the_full_matrix() -> None:
    cfg = load_params(PARAMS)
    assert cfg["profile"] == "cpu"
    assert set(cfg["methods"]) >= {
        "random", "random+global", "semihard", "hard", "smart", "smart+global", "smart+global+adaptive",
        "smart+global+adaptive-paper"
    }
    assert len(cfg["seeds"]) >= 5 and cfg["train"]["redraw_split"]  # PAPER.md section 10
    assert cfg["sweeps"]["kappa0"]["values"] == [1, 16, 64]  # Fig. 7: the adaptive initial kappa, each law
    assert cfg["sweeps"]["kappa0"]["method"] == ["smart+global+adaptive", "smart+global+adaptive-paper"]
    assert cfg["sweeps"]["kappa"]["values"] == [1, 16, 64]  # Fig. 7: the fixed kappa
    # equal tuning: every method tries each learning rate of the common grid at least once
    assert cfg["tuning"]["runs_per_method"] >= len(cfg["tuning"]["lr"]) >= 2
    assert cfg["tuning"]["target_error"] == [0.5, 0.625, 0.75]  # the paper's range
    assert cfg["model"]["init"] == "pretrain" and cfg["data"]["glyphs"]["val_classes"] > 0


def test_base_profile_is_deep_merged() -> None:
    smoke = load_params(PARAMS, "smoke")
    cpu = load_params(PARAMS, "cpu")
    assert smoke["train"]["epochs"] != cpu["train"]["epochs"]
    assert smoke["train"]["lr"] == cpu["train"]["lr"]  # inherited, not replaced
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


def test_overrides_set_nested_values_and_are_validated() -> None:
    cfg = load_params(PARAMS, "cpu", ["train.epochs=3", "mining.index=hnsw"])
    assert cfg["train"]["epochs"] == 3 and cfg["mining"]["index"] == "hnsw"
    with pytest.raises(SmartMiningError, match="train.epochs"):
        load_params(PARAMS, "cpu", ["train.epochs=-1"])
    with pytest.raises(SmartMiningError, match="KEY.PATH=VALUE"):
        apply_overrides({}, ["nonsense"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["profiles"]["cpu"]["train"].update(epochs=-2), r"train\.epochs: -2 is less than the minimum"),
        (lambda r: r["profiles"]["cpu"]["train"].update(epochz=3), r"train: Additional properties.*'epochz'"),
        (lambda r: r["profiles"]["cpu"]["train"].update(lr="fast"), r"train\.lr: 'fast' is not of type 'number'"),
        (lambda r: r["profiles"]["cpu"].update(methods=["random", "magic"]), r"methods\.1: 'magic' is not one of"),
        (lambda r: r["profiles"]["cpu"].update(datasets=["mnist"]), r"datasets\.0: 'mnist' is not one of"),
        (lambda r: r.update(profile="nope"), r"unknown profile 'nope'"),
        (lambda r: r.update(extra=1), r"unknown top-level key"),
        (lambda r: r["profiles"]["smoke"].update(base="smoke"), r"cycle"),
        (lambda r: r["profiles"]["cpu"]["controller"].update(kappa0=100), r"controller.kappa0 must lie in the clamp \[1, 64\], got 100"),
    ],
)
def test_bad_params_fail_with_a_message_naming_the_key(tmp_path: Path, mutate, message: str) -> None:
    path = write_params(tmp_path, mutate)
    profile = "smoke" if "cycle" in message else None
    with pytest.raises(SmartMiningError, match=message) as info:
        load_params(path, profile)
    assert str(path) in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SmartMiningError, match="no such file"):
        load_params(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: [unclosed")
    with pytest.raises(SmartMiningError, match="not valid YAML"):
        load_params(bad)


def test_method_names() -> None:
    full = get_method("smart+global+adaptive")
    assert (full.miner, full.use_global, full.adaptive, full.offline) == ("smart", True, True, True)
    assert not get_method("semihard").offline
    with pytest.raises(SmartMiningError, match="unknown method 'smrat'.*smart\\+global"):
        get_method("smrat")
