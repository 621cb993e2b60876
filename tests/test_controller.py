"""The kappa controller on synthetic (e, kappa) plants, by hand, against a least-squares oracle, and its state."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from smartmining.controller import FIT_BANDWIDTH, KappaController
from smartmining.errors import SmartMiningError

KAPPA0S = (1.0, 4.0, 16.0, 64.0)


def loglinear(kappa: float, epoch: int) -> float:  # target 0.5 at kappa 8
    return 0.8 - 0.1 * math.log2(kappa)


def linear(kappa: float, epoch: int) -> float:  # target 0.5 at kappa 8.5
    return 0.8 - 0.04 * (kappa - 1)


def fallback(kappa: float, epoch: int) -> float:
    """Glyph-like: half random triplets (e 0.62), half mined; above kappa ~4 the mined ones fall back to
    random, so e is U-shaped in kappa and an error above target at a large kappa asks for a smaller one."""
    q = 1 - 0.5 * (1 + math.erf(math.log(kappa / 4.0) / 0.5 / math.sqrt(2)))
    e_real = max(0.62 - 0.35 * math.log(kappa) / math.log(4.0), 0.0)
    return 0.5 * 0.62 + 0.5 * (q * e_real + (1 - q) * 0.62)


def run(controller, plant, data_range, epochs: int, seed: int, noise: float) -> np.ndarray:
    """Errors per controlled epoch: set_range before 'mining', observe after 'training'."""
    rng = np.random.default_rng(seed)
    errors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(epochs):
            kappa = controller.set_range(*data_range) if data_range else controller.kappa
            error = float(np.clip(plant(kappa, t) + rng.normal(0, noise), 0, 1))
            errors.append(error)
            controller.observe(error)
    return np.array(errors)


def settle(errors: np.ndarray, band: float = 0.1) -> int:
    """First controlled epoch (1-based) from which every error is within band of 0.5 (len + 1: never)."""
    off = np.flatnonzero(np.abs(errors - 0.5) > band)
    return 1 if off.size == 0 else int(off[-1]) + 2


@pytest.mark.parametrize("kappa0", KAPPA0S)
@pytest.mark.parametrize(("plant", "data_range"), [(loglinear, (1.0, 64.0)), (fallback, (1.0, 4.0))])
def test_within_01_of_target_from_the_second_controlled_epoch(plant, data_range, kappa0):
    errors = run(KappaController(kappa0=kappa0), plant, data_range, 10, seed=0, noise=0.0)
    assert settle(errors) <= 2, errors


@pytest.mark.parametrize("kappa0", KAPPA0S)
def test_noisy_plants_settle_by_the_third_epoch_and_stay(kappa0):
    for seed in range(10):
        for plant, data_range in ((loglinear, (1.0, 64.0)), (fallback, (1.0, 4.0))):
            errors = run(KappaController(kappa0=kappa0), plant, data_range, 12, seed, noise=0.02)
            assert settle(errors) <= 3, (plant.__name__, seed, errors)


@pytest.mark.parametrize("kappa0", KAPPA0S)
def test_linear_plant_settles_by_the_fourth_epoch(kappa0):
    """Linear in kappa, so its log-slope at kappa0 = 1 is a sixth of slope0: the first (prior) step falls
    short and the fit needs two more epochs. Honest bound: 4, not 2."""
    for seed in range(10):
        errors = run(KappaController(kappa0=kappa0), linear, (1.0, 16.0), 12, seed, noise=0.02)
        assert settle(errors) <= 4, (seed, errors)


def test_fallback_plant_needs_the_data_range():
    """Without the range, e above target at kappa 64 (all fallbacks) pushes kappa up to the clamp: the
    first release's failure. With it, kappa stays where triplets exist and e reaches the target."""
    blind = KappaController(kappa0=64.0)
    errors = run(blind, fallback, None, 8, 0, noise=0.0)
    assert blind.kappa == 64.0 and np.all(errors > 0.6)
    errors = run(KappaController(kappa0=64.0), fallback, (1.0, 4.0), 8, 0, noise=0.0)
    assert np.all(np.abs(errors - 0.5) <= 0.1)


@pytest.mark.parametrize(("level", "bound", "side"), [(0.7, 8.0, "above"), (0.3, 1.5, "below")])
@pytest.mark.parametrize("kappa0", KAPPA0S)
def test_flat_plant_holds_at_the_bound_and_flags_unreachable(level, bound, side, kappa0):
    controller = KappaController(kappa0=kappa0)
    run(controller, lambda k, t: level, (1.5, 8.0), 10, 0, noise=0.02)
    last = controller.history[-4:]
    assert all(h["kappa"] == bound and h["kappa_next"] == bound for h in last)
    assert all(h["unreachable"] and h["rule"] == "unreachable" and side in h["reason"] for h in last)
    assert not any(h["unreachable"] for h in controller.history if h["kappa"] != bound)


def test_first_step_is_the_prior_step():
    controller = KappaController(kappa0=2.0, slope0=0.2)
    assert controller.observe(0.7) == pytest.approx(2.0 * math.exp(0.2 / 0.2))
    assert controller.history[0]["rule"] == "prior"
    assert controller.observe(0.51) == controller.kappa  # within tolerance: hold
    assert controller.history[-1]["rule"] == "hold"


def test_fit_through_two_points_by_hand():
    controller = KappaController(kappa0=2.0, prior_weight=0.0)
    controller.observe(0.7)  # kappa 2 -> 2e
    # without the ridge pull the line runs through (0.7, ln 2) and (0.4, ln 2 + 1): slope -0.3 per ln unit
    assert controller.observe(0.4) == pytest.approx(2.0 * math.exp(0.2 / 0.3))
    entry = controller.history[-1]
    assert entry["rule"] == "fit" and entry["slope"] == pytest.approx(0.3)
    assert entry["alpha"] == pytest.approx(-1 / 0.3)
    assert entry["beta"] == pytest.approx(math.log(2.0) + 0.7 / 0.3)


def oracle_ridge(errors, xs, target, b0, lam):
    """Weighted ridge least squares of e on x by numpy.linalg.lstsq on the augmented system."""
    w = np.sqrt((FIT_BANDWIDTH / (np.abs(errors - target) + FIT_BANDWIDTH)) ** 2)
    a = np.vstack([np.column_stack([w, w * xs]), [0.0, math.sqrt(lam)]])
    y = np.concatenate([w * errors, [math.sqrt(lam) * b0]])
    intercept, slope = np.linalg.lstsq(a, y, rcond=None)[0]
    return slope, intercept


def test_fit_matches_ridge_least_squares_on_the_window():
    controller = KappaController(kappa0=3.0, window=3, prior_weight=0.05, bracket=False)
    kappas = [3.0]
    for error in (0.62, 0.55, 0.58):
        slope_before = controller._slope
        controller.observe(error)
        kappas.append(controller.kappa)
    entry = controller.history[-1]
    assert entry["rule"] == "fit"
    errors, xs = np.array([0.62, 0.55, 0.58]), np.log(kappas[:3])
    b, a = oracle_ridge(errors, xs, 0.5, -slope_before, 0.05)
    assert entry["alpha"] == pytest.approx(1 / b) and entry["beta"] == pytest.approx(-a / b)
    assert controller.kappa == pytest.approx(math.exp((0.5 - a) / b))


def test_bracket_bisects_a_step_that_leaves_it():
    controller = KappaController(kappa0=4.0)
    pairs = [(0.6, math.log(2.0)), (0.4, math.log(8.0))]  # the target lies between kappa 2 and 8
    assert controller._bracketed(pairs, 20.0) == pytest.approx(4.0)
    assert controller._bracketed(pairs, 5.0) == 5.0
    assert controller._bracketed([(0.6, math.log(8.0)), (0.4, math.log(2.0))], 20.0) == 20.0  # inconsistent: ignored


def test_optional_step_limit():
    controller = KappaController(kappa0=2.0, max_step=2.0)
    assert controller.observe(0.9) == pytest.approx(4.0)


def test_linear_space_fits_kappa_itself():
    controller = KappaController(kappa0=2.0, space="linear", prior_weight=0.0)
    controller.observe(0.7)
    k1 = controller.kappa
    # line through (0.7, 2) and (0.4, k1) in kappa: kappa(0.5) = 2 + (k1 - 2) * 2 / 3
    assert controller.observe(0.4) == pytest.approx(2 + (k1 - 2) * 2 / 3)


def test_set_range_clamps_records_and_warns_for_kappa0():
    controller = KappaController(kappa0=16.0)
    with pytest.warns(UserWarning, match="kappa0 = 16 lies outside"):
        assert controller.set_range(1.2, 3.5) == 3.5
    controller.observe(0.52)
    entry = controller.history[0]
    assert (entry["kappa"], entry["kappa_proposed"], entry["clamp"]) == (3.5, 16.0, "hi")
    assert (entry["range_lo"], entry["range_hi"]) == (1.2, 3.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # later clamps are recorded, not warned
        assert controller.set_range(4.0, 9.0) == 4.0
    controller.observe(0.5)
    assert controller.history[1]["clamp"] == "lo"


def test_static_clamp_bounds_the_data_range():
    controller = KappaController(kappa0=2.0, kappa_min=1.0, kappa_max=3.0)
    assert controller.set_range(0.5, 10.0) == 2.0 and controller.bounds() == (1.0, 3.0)
    controller.observe(0.95)  # wants far up: stops at kappa_max
    assert controller.kappa == 3.0


def test_unreachable_reason_quotes_the_random_error():
    controller = KappaController(kappa0=4.0)
    controller.set_range(1.0, 4.0)
    controller.observe(0.66, error_mined=0.7, error_random=0.62)
    entry = controller.history[0]
    assert entry["unreachable"] and entry["kappa_next"] == 4.0
    assert "largest admissible kappa 4" in entry["reason"] and "0.620" in entry["reason"]
    assert (entry["error_mined"], entry["error_random"]) == (0.7, 0.62)


def test_state_round_trip_continues_identically():
    original = KappaController(kappa0=3.0, window=4)
    run(original, loglinear, (1.0, 64.0), 4, 0, noise=0.03)
    original.set_range(1.0, 10.0)  # a pending range survives the checkpoint
    state = json.loads(json.dumps(original.state_dict()))  # must be JSON-serialisable
    restored = KappaController()
    restored.load_state_dict(state)
    assert restored.kappa == original.kappa and restored.history == original.history and restored.window == 4
    for error in (0.42, 0.61, 0.55, 0.5, 0.3):
        assert restored.observe(error) == original.observe(error)
        assert restored.set_range(1.0, 12.0) == original.set_range(1.0, 12.0)
    assert restored.history == original.history


def test_old_state_fails_clearly():
    state = KappaController().state_dict()
    for key in ("space", "slope", "range"):
        del state[key]
    with pytest.raises(SmartMiningError, match="older controller"):
        KappaController().load_state_dict(state)


def test_history_records_epoch_labels():
    controller = KappaController()
    controller.observe(0.2, epoch=3)
    controller.observe(0.4)
    assert [h["epoch"] for h in controller.history] == [3, 4]


def test_bad_errors_and_ranges_raise():
    controller = KappaController()
    for bad in (float("nan"), -0.1, 1.5, "high"):
        with pytest.raises(SmartMiningError, match="error must be a number in \\[0, 1\\]"):
            controller.observe(bad)
    with pytest.raises(SmartMiningError, match="error_random must be"):
        controller.observe(0.5, error_random=2.0)
    for lo, hi in ((3.0, 2.0), (0.0, 2.0), (1.0, float("inf"))):
        with pytest.raises(SmartMiningError, match="data range"):
            controller.set_range(lo, hi)
    assert controller.history == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"target_error": 1.0}, "target_error"),
        ({"kappa0": 100.0}, "kappa0"),
        ({"kappa_min": 0.0}, "kappa_min"),
        ({"kappa_max": 0.5}, "kappa_max"),
        ({"window": 1}, "window"),
        ({"tolerance": 0.6}, "tolerance"),
        ({"space": "sqrt"}, "space"),
        ({"max_step": 1.0}, "max_step"),
        ({"slope0": 0.0}, "slope0"),
        ({"prior_weight": -1.0}, "prior_weight"),
        ({"bracket": "yes"}, "bracket"),
    ],
)
def test_parameter_validation_names_the_parameter(kwargs, name):
    with pytest.raises(SmartMiningError, match=name):
        KappaController(**kwargs)
