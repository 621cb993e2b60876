from __future__ import annotations

import json
import math

import numpy as np
import pytest

from smartmining.controller import FIT_BANDWIDTH, KappaController
from smartmining.errors import SmartMiningError


def log_plant(kappa: float) -> float:
    return float(np.clip(1 - 0.25 * math.log2(kappa), 0, 1))


def hill_plant(kappa: float) -> float:
    return 1.0 / (1.0 + (kappa / 10.0) ** 2)


def exp_plant(kappa: float) -> float:
    return float(np.clip(1.2 * math.exp(-kappa / 6.0), 0, 1))


def run(controller: KappaController, plant, epochs: int, rng: np.random.Generator, noise: float = 0.01):
    errors = []
    for _ in range(epochs):
        error = float(np.clip(plant(controller.kappa) + rng.normal(0, noise), 0, 1))
        errors.append(error)
        controller.observe(error)
    return errors


@pytest.mark.parametrize("plant", [log_plant, hill_plant, exp_plant])
def test_reaches_target_within_five_epochs_and_stays(plant):
    for seed in range(20):
        controller = KappaController(kappa0=16.0, target_error=0.5)
        errors = np.array(run(controller, plant, 12, np.random.default_rng(seed)))
        assert np.abs(errors[:5] - 0.5).min() <= 0.05, (seed, errors)
        assert np.abs(errors[5:] - 0.5).max() <= 0.1, (seed, errors)
        kappas = [h["kappa"] for h in controller.history] + [controller.kappa]
        assert all(1.0 <= k <= 64.0 for k in kappas)


def test_first_two_epochs_use_kappa0_and_half():
    controller = KappaController(kappa0=16.0)
    assert controller.kappa == 16.0
    assert controller.observe(0.1) == 8.0
    assert controller.history[0]["rule"] == "init"
    low = KappaController(kappa0=1.0)
    assert low.observe(0.9) == 2.0  # kappa0 / 2 would clamp onto kappa0: the second point goes up instead


def test_fit_through_two_points_by_hand():
    controller = KappaController(kappa0=16.0, target_error=0.5)
    controller.observe(0.2)  # kappa 16 -> 8
    # line through (0.2, 16) and (0.6, 8): alpha = -20, beta = 20, kappa(0.5) = 10
    assert controller.observe(0.6) == pytest.approx(10.0)
    entry = controller.history[-1]
    assert entry["rule"] == "fit"
    assert entry["alpha"] == pytest.approx(-20.0) and entry["beta"] == pytest.approx(20.0)
    assert (entry["error"], entry["kappa"], entry["kappa_next"]) == (0.6, 8.0, pytest.approx(10.0))


def test_fitted_step_is_limited_to_a_factor_two():
    controller = KappaController(kappa0=16.0, target_error=0.5)
    controller.observe(0.0)
    # line through (0, 16), (0.25, 8) gives kappa(0.5) = 0: the step stops at 8 / 2
    assert controller.observe(0.25) == pytest.approx(4.0)
    assert controller.history[-1]["rule"] == "fit"


def test_wrong_sign_falls_back_to_multiplicative_step():
    controller = KappaController(kappa0=16.0, target_error=0.5)
    controller.observe(0.6)  # kappa 16 -> 8
    assert controller.observe(0.2) == pytest.approx(4.0)  # error fell with kappa: alpha > 0; e below target: halve
    assert controller.history[-1]["rule"] == "fallback"
    assert controller.history[-1]["alpha"] is None
    controller = KappaController(kappa0=16.0, target_error=0.5)
    controller.observe(0.7)
    assert controller.observe(0.9) == pytest.approx(16.0)  # alpha > 0 and e above target: double


def oracle_next_kappa(pairs, target, kappa):
    """Weighted least squares by numpy.polyfit (weights multiply residuals, hence the square root)."""
    errors = np.array([p[0] for p in pairs])
    kappas = np.array([p[1] for p in pairs])
    alpha, beta = np.polyfit(errors, kappas, 1, w=1.0 / (np.abs(errors - target) + FIT_BANDWIDTH))
    return alpha, beta, float(np.clip(alpha * target + beta, kappa / 2, kappa * 2))


def test_fit_matches_weighted_least_squares_on_last_window():
    controller = KappaController(kappa0=16.0, target_error=0.6, window=3)
    rng = np.random.default_rng(3)
    pairs = []
    for _ in range(8):
        kappa = controller.kappa
        error = float(np.clip(hill_plant(kappa) + rng.normal(0, 0.05), 0, 1))
        pairs.append((error, kappa))
        kappa_next = controller.observe(error)
        entry = controller.history[-1]
        if entry["rule"] == "fit":
            alpha, beta, expected = oracle_next_kappa(pairs[-3:], 0.6, kappa)
            assert entry["alpha"] == pytest.approx(alpha) and entry["beta"] == pytest.approx(beta)
            assert kappa_next == pytest.approx(float(np.clip(expected, 1, 64)))
    assert sum(h["rule"] == "fit" for h in controller.history) >= 3


@pytest.mark.parametrize(
    ("error", "expected_kappa"), [(0.0, 1.0), (1.0, 64.0), (0.5, 8.0), (0.3, 1.0), (0.8, 64.0)]
)
def test_constant_error_is_survived_and_clamped(error, expected_kappa):
    controller = KappaController(kappa0=16.0, target_error=0.5)
    for _ in range(15):
        kappa_next = controller.observe(error)
        assert 1.0 <= kappa_next <= 64.0 and math.isfinite(kappa_next)
    assert controller.kappa == expected_kappa
    assert {h["rule"] for h in controller.history[1:]} == {"fallback"}


def test_identical_points_at_the_clamp_are_degenerate_not_fatal():
    controller = KappaController(kappa0=64.0, kappa_min=1.0, kappa_max=64.0, window=5)
    for _ in range(8):
        controller.observe(0.9)  # error stays high even at the largest kappa
    assert controller.kappa == 64.0
    assert controller.history[-1]["rule"] == "fallback"
    assert all(h["kappa"] == 64.0 for h in controller.history[-5:])


def test_nan_and_out_of_range_errors_raise():
    controller = KappaController()
    for bad in (float("nan"), -0.1, 1.5, "high"):
        with pytest.raises(SmartMiningError, match="error must be a number in \\[0, 1\\]"):
            controller.observe(bad)
    assert controller.history == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"target_error": 1.0}, "target_error"),
        ({"target_error": 0.0}, "target_error"),
        ({"kappa0": 100.0}, "kappa0"),
        ({"kappa0": 0.5}, "kappa0"),
        ({"kappa_min": 0.0}, "kappa_min"),
        ({"kappa_max": 0.5}, "kappa_max"),
        ({"window": 1}, "window"),
        ({"window": 2.5}, "window"),
        ({"tolerance": 0.6}, "tolerance"),
    ],
)
def test_parameter_validation_names_the_parameter(kwargs, name):
    with pytest.raises(SmartMiningError, match=name):
        KappaController(**kwargs)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(7)
    original = KappaController(kappa0=16.0, target_error=0.5, window=4)
    run(original, log_plant, 4, rng)
    state = json.loads(json.dumps(original.state_dict()))  # must be JSON-serialisable
    restored = KappaController()
    restored.load_state_dict(state)
    assert restored.kappa == original.kappa and restored.history == original.history
    for error in (0.42, 0.61, 0.55, 0.5, 0.3):
        assert restored.observe(error) == original.observe(error)
    assert restored.history == original.history
    assert restored.window == 4


def test_load_state_dict_rejects_incomplete_state():
    state = KappaController().state_dict()
    del state["history"]
    with pytest.raises(SmartMiningError, match="history"):
        KappaController().load_state_dict(state)


def test_history_records_epoch_labels():
    controller = KappaController()
    controller.observe(0.2, epoch=3)
    controller.observe(0.4)
    assert [h["epoch"] for h in controller.history] == [3, 4]
