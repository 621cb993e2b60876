"""The paper's law as written (controller_laws.py) on the plants of test_controller.py, against a
least-squares oracle, and how a method and controller.law pick the law."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from smartmining.config import apply_overrides, load_params, validate_profile
from smartmining.controller import KappaController
from smartmining.controller_laws import PaperKappaController, build_controller, least_squares
from smartmining.errors import SmartMiningError
from smartmining.methods import get_method
from smartmining.mining.factory import build_kappa
from smartmining.runs import run_key
from smartmining.settings import Settings
from test_controller import KAPPA0S, fallback, linear, loglinear, run

from conftest import PARAMS, SMOKE_SELECTION


def paper(kappa0: float, **kwargs) -> PaperKappaController:
    return PaperKappaController(kappa0=kappa0, **kwargs)


def test_fit_is_ordinary_least_squares_of_kappa_on_e_over_the_window():
    controller = paper(3.0, window=3)
    for error in (0.62, 0.55, 0.58, 0.47):
        controller.set_range(1.0, 64.0)
        controller.observe(error)
    entry, window = controller.history[-1], controller.history[-3:]
    alpha, beta = np.polyfit([h["error"] for h in window], [h["kappa"] for h in window], 1)  # the oracle
    assert entry["rule"] == "fit"
    assert (entry["alpha"], entry["beta"]) == (pytest.approx(alpha), pytest.approx(beta))
    assert controller.kappa == pytest.approx(min(max(alpha * 0.5 + beta, 1.0), 64.0))


def test_first_step_probes_then_a_linear_plant_is_solved_exactly():
    """One pair cannot be fitted: the second kappa is kappa0 x or / paper_probe. A plant linear in kappa is
    then on target exactly at the third controlled epoch (the line through two points is the plant)."""
    for kappa0, second in ((1.0, 2.0), (4.0, 8.0), (16.0, 8.0)):
        controller = paper(kappa0)
        errors = run(controller, linear, (1.0, 16.0), 4, 0, noise=0.0)
        kappas = [h["kappa"] for h in controller.history]
        assert controller.history[0]["rule"] == "probe" and kappas[1] == second
        assert kappas[2] == pytest.approx(8.5) and errors[2] == pytest.approx(0.5)


def test_clamp_to_kappa_min_max_only_not_to_the_data_range():
    controller = paper(2.0, kappa_max=12.0)
    assert controller.set_range(3.0, 4.0) == 2.0  # below the data's range: kept
    controller.observe(0.7)  # probe up: 4
    controller.set_range(1.0, 3.0)
    controller.observe(0.65)  # line through (0.7, 2) and (0.65, 4): kappa(0.5) = 10, above the range, kept
    assert controller.kappa == pytest.approx(10.0)
    assert controller.set_range(1.0, 3.0) == pytest.approx(10.0)
    controller.observe(0.6)  # the line now asks for more than kappa_max: clamped there
    assert controller.kappa == 12.0
    controller.set_range(1.0, 3.0)
    controller.observe(0.55)
    entry = controller.history[-1]
    assert (entry["kappa"], entry["clamp"], entry["range_lo"], entry["range_hi"]) == (12.0, "hi", 1.0, 3.0)
    assert entry["kappa_proposed"] > 12.0 and not entry["unreachable"]


def test_no_hold_at_the_target():
    controller = paper(4.0)
    controller.observe(0.6)
    controller.observe(0.51)  # within our law's tolerance: ours would hold, the paper's refits
    assert controller.history[-1]["rule"] == "fit" and controller.kappa != controller.history[-1]["kappa"]


@pytest.mark.parametrize("fallback_rule", ["step", "hold"])
def test_wrong_sign_fit_falls_back(fallback_rule):
    controller = paper(4.0, fallback=fallback_rule)
    controller.observe(0.4)  # below target: probe down to 2
    controller.observe(0.3)  # smaller kappa, smaller e: alpha > 0, the wrong sign
    entry = controller.history[-1]
    assert entry["rule"] == "fallback" and entry["alpha"] > 0
    assert controller.kappa == (1.0 if fallback_rule == "step" else 2.0)


@pytest.mark.parametrize("kappa0", (1.0, 4.0, 16.0))
def test_loglinear_plant_noise_free_within_01_from_the_fourth_epoch(kappa0):
    errors = run(paper(kappa0), loglinear, (1.0, 64.0), 10, 0, noise=0.0)
    assert np.all(np.abs(errors[3:] - 0.5) <= 0.1), errors


def test_loglinear_from_64_overshoots_to_the_clamp():
    """A line in kappa extrapolated from (64, 0.2) and (32, 0.3) asks for kappa < 1: the literal law lands on
    kappa_min at its third controlled epoch (ours, in ln kappa, is on target by the second)."""
    controller = paper(64.0)
    errors = run(controller, loglinear, (1.0, 64.0), 4, 0, noise=0.0)
    assert controller.history[2]["kappa"] == 1.0 and errors[2] == pytest.approx(0.8)
    ours = run(KappaController(kappa0=64.0), loglinear, (1.0, 64.0), 4, 0, noise=0.0)
    assert np.all(np.abs(ours[1:] - 0.5) <= 0.1)


@pytest.mark.parametrize("plant", [linear, loglinear])
@pytest.mark.parametrize("kappa0", (4.0, 16.0))
def test_noisy_plants_mostly_within_01_from_the_third_epoch(plant, kappa0):
    """Noise sd 0.02 on e (10 seeds): without holds, noise near the target tilts the fit, so the law
    wanders; measured: at least 80% of the epochs from the 3rd on within 0.1 in every seed."""
    for seed in range(10):
        errors = run(paper(kappa0), plant, (1.0, 16.0 if plant is linear else 64.0), 12, seed, noise=0.02)
        assert np.mean(np.abs(errors[2:] - 0.5) <= 0.1) >= 0.8, (seed, errors)


@pytest.mark.parametrize("kappa0", KAPPA0S)
def test_fallback_plant_runs_to_kappa_max(kappa0):
    """Glyph-like: an error above target at a large kappa comes from fallbacks; the literal law asks for a
    larger kappa still and ends at kappa_max with e at the fallbacks' level, and flags nothing."""
    controller = paper(kappa0)
    errors = run(controller, fallback, (1.0, 4.0), 10, 0, noise=0.0)
    assert controller.kappa == 64.0 and np.all(errors[-3:] > 0.6)
    assert not any(h["unreachable"] for h in controller.history)


@pytest.mark.parametrize(("level", "bound"), [(0.7, 64.0), (0.3, 1.0)])
@pytest.mark.parametrize("kappa0", KAPPA0S)
def test_flat_plant_runs_to_the_clamp(level, bound, kappa0):
    controller = paper(kappa0)
    run(controller, lambda k, t: level, (1.5, 8.0), 10, 0, noise=0.0)
    assert controller.kappa == bound and not any(h["unreachable"] for h in controller.history)


def test_least_squares_of_equal_errors_is_undefined():
    assert least_squares([(0.5, 2.0), (0.5, 4.0)]) is None
    assert least_squares([(0.6, 2.0), (0.4, 4.0)]) == (pytest.approx(-10.0), pytest.approx(8.0))


def test_state_round_trip_and_the_other_law_refused():
    original = paper(3.0, window=4)
    run(original, loglinear, (1.0, 64.0), 4, 0, noise=0.03)
    original.set_range(1.0, 10.0)
    restored = paper(2.0)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    for error in (0.42, 0.61, 0.55):
        assert restored.observe(error) == original.observe(error)
    assert restored.history == original.history and restored.window == 4
    with pytest.raises(SmartMiningError, match="'ours' law"):
        paper(2.0).load_state_dict(KappaController().state_dict())


@pytest.mark.parametrize(("kwargs", "name"), [({"probe": 1.0}, "paper_probe"), ({"fallback": "jump"}, "paper_fallback"),
                                              ({"kappa0": 100.0}, "kappa0"), ({"window": 1}, "window")])
def test_parameter_validation_names_the_parameter(kwargs, name):
    with pytest.raises(SmartMiningError, match=name):
        paper(**{"kappa0": 2.0, **kwargs})


def test_profile_keys_are_validated_by_name():
    cfg = load_params(PARAMS, "smoke")
    with pytest.raises(SmartMiningError, match="controller.law"):
        validate_profile(apply_overrides(cfg, ["controller.law=papers"]), "test")
    with pytest.raises(SmartMiningError, match="paper_probe"):
        validate_profile(apply_overrides(cfg, ["controller.paper_probe=0.5"]), "test")


def test_the_method_forces_the_law_and_the_run_key_tells_them_apart():
    cfg = load_params(PARAMS, "smoke")
    settings = Settings.of(cfg)
    ours, literal = get_method("smart+global+adaptive"), get_method("smart+global+adaptive-paper")
    assert isinstance(build_kappa(ours, settings), KappaController)
    assert isinstance(build_kappa(literal, settings), PaperKappaController)
    as_paper = Settings.of(apply_overrides(cfg, ["controller.law=paper"]))
    assert isinstance(build_kappa(ours, as_paper), PaperKappaController)  # controller.law for the plain method
    k_ours, k_paper = run_key(cfg, "glyphs", ours), run_key(cfg, "glyphs", literal)
    assert (k_ours["controller"]["law"], k_paper["controller"]["law"]) == ("ours", "paper")
    assert k_ours["method"] != k_paper["method"]
    assert isinstance(build_controller("paper", cfg["controller"]), PaperKappaController)
    assert math.isfinite(build_controller("ours", cfg["controller"]).kappa)


def test_a_smoke_run_of_the_paper_method_follows_the_law_from_its_logged_errors(smoke_profile, train_smoke, tmp_path,
                                                                                 caplog):
    """Four epochs, one of warm-up: the first controlled epoch mines with kappa0, the second with the probe,
    and the third with the line through the logged (e, kappa) pairs (clamped to [kappa_min, kappa_max])."""
    import logging

    import pandas as pd

    profile = apply_overrides(smoke_profile, ["train.epochs=4", "controller.kappa0=2"])
    with caplog.at_level(logging.INFO, logger="smartmining.training.trainer"):
        train_smoke(profile, tmp_path, method="smart+global+adaptive-paper")
    assert "kappa nan" not in caplog.text and "epoch 1:" in caplog.text and "kappa none" in caplog.text
    rows = pd.read_csv(tmp_path / "epochs.csv").set_index("epoch")
    c = profile["controller"]
    assert math.isnan(rows.loc[1, "kappa"])  # warm-up: random triplets
    assert rows.loc[2, "kappa"] == 2.0 and rows.loc[2, "controller_rule"] == "probe"
    e2, e3 = rows.loc[2, "train_error"], rows.loc[3, "train_error"]
    assert rows.loc[3, "kappa"] == pytest.approx(2.0 * c["paper_probe"] if e2 > 0.5 else 2.0 / c["paper_probe"])
    k3 = rows.loc[3, "kappa"]
    alpha = (k3 - 2.0) / (e3 - e2)
    if alpha < 0:  # the paper's update; a wrong-sign fit steps by the probe factor instead
        expected = alpha * c["target_error"] + (2.0 - alpha * e2)
        assert rows.loc[3, "controller_rule"] == "fit"
    else:
        expected = k3 * c["paper_probe"] if e3 > 0.5 else k3 / c["paper_probe"]
        assert rows.loc[3, "controller_rule"] == "fallback"
    expected = min(max(expected, c["kappa_min"]), c["kappa_max"])
    assert rows.loc[3, "kappa_next"] == pytest.approx(expected, rel=1e-6)
    assert rows.loc[4, "kappa"] == pytest.approx(expected, rel=1e-6)
    state = json.loads((tmp_path / "controller.json").read_text())
    assert state["law"] == "paper" and [h["epoch"] for h in state["history"]] == [2, 3, 4]
    assert json.loads((tmp_path / "config.json").read_text())["controller"]["law"] == "paper"


def test_the_paper_laws_initial_kappa_sweep_resolves_to_the_paper_method():
    from smartmining.runs import profile_runs, resolve

    cfg = load_params(PARAMS, "smoke")
    cfg = {**cfg, "sweeps": {**cfg["sweeps"], "kappa0": {"method": ["smart+global+adaptive", "smart+global+adaptive-paper"],
                                                         "values": [16], "seeds": [0]}}}
    validate_profile(cfg, "test")
    assert "sweep-kappa0-16_smart+global+adaptive-paper" in {r.name for r in profile_runs(cfg)}
    run = resolve(cfg, "glyphs", "sweep-kappa0-16_smart+global+adaptive-paper", SMOKE_SELECTION)
    assert run.method.name == "smart+global+adaptive-paper" and run.profile["controller"]["kappa0"] == 16
    assert run.key["controller"]["law"] == "paper"
