"""The adaptive controller of the exclusion-boundary scale kappa (eqs. 7-8, PAPER.md section 5).

The plant: a larger kappa pushes the boundary out, so the mined negatives are softer and the training
error e falls. The paper's law: fit kappa = alpha * e + beta by least squares on the recent (e, kappa)
pairs and step to alpha * e_target + beta; alpha must be negative. docs/controller.md has the evidence
(benchmarks/controller_plants.py) for the choices below [ours, all parameters]:

- ``space="log"``: the line is fitted to ln(kappa) (not kappa) against e. kappa is a ratio of squared
  distances and acts through quantiles of d2(n)/d2(p1), so e moves with log kappa; on log-linear and
  fallback plants the log fit reaches the target in fewer epochs and is no worse on a linear plant.
- no step limit by default (``max_step=None``): the data's admissible range (``set_range``, from
  mining/kappa_scale.py) bounds every step instead; an x2 limit took 4 epochs to walk from 16 to 1.
- the line is estimated with the residual in e (the noise is in e; kappa is set exactly), weighted
  by closeness to the target, with a ridge pull of its slope towards the last fitted slope
  (``slope0`` = |de / d ln kappa| before any fit; ``prior_weight`` sets the pull). One kappa in the
  window (the first controlled epoch, or a run of holds) gives the prior step
  ln kappa += (mean e - e_target) / slope; a fitted slope is kept within slope0 * [0.5, 5], and a fit
  that would move kappa against the way the current error asks falls back to the prior step.
- ``bracket=True``: once the window holds pairs on both sides of the target, the next kappa stays
  strictly between the largest kappa with e above target and the smallest with e below (bisecting
  where the fit leaves that bracket), so a poor extrapolation cannot oscillate.
- hold where |e - e_target| <= ``tolerance`` (0.03); window of 3 epochs (drifting plants).
- kappa is clamped to [kappa_min, kappa_max] and to the epoch's data range [lo, hi] (``set_range``,
  called before each controlled epoch's mining); the clamp is recorded in the history, and a kappa0
  outside the first range is moved inside with a warning.
- where e stays above target at the largest admissible kappa (or below it at the smallest), kappa
  holds at that bound and the history entry says ``unreachable`` with the reason, instead of drifting.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from smartmining.errors import SmartMiningError

# Bandwidth of the fit's weights (bandwidth / (|e - e_target| + bandwidth))^2, in (0, 1].
FIT_BANDWIDTH = 0.05
# A fitted |de / d ln kappa| is kept within slope0 * [0.5, 5]: a flatter fit (noise, drift) would
# extrapolate far past the data, a steeper one would freeze kappa.
SLOPE_RANGE = (0.5, 5.0)
_EDGE = 1e-9  # relative slack when testing "kappa sits at a bound"

_CONFIG_KEYS = ("kappa0", "target_error", "kappa_min", "kappa_max", "window", "tolerance", "space", "max_step",
                "slope0", "bracket", "prior_weight")


class KappaController:
    """Chooses kappa for each epoch's mining from the training error of the epochs before.

    Per controlled epoch: ``set_range(lo, hi)`` before mining (returns the kappa to mine with), then
    ``observe(e)`` after training (returns the proposal for the next epoch). ``set_range`` is optional:
    without it only [kappa_min, kappa_max] applies.
    """

    def __init__(
        self,
        kappa0: float = 2.0,
        target_error: float = 0.5,
        kappa_min: float = 1.0,
        kappa_max: float = 64.0,
        window: int = 3,
        tolerance: float = 0.03,
        space: str = "log",
        max_step: float | None = None,
        slope0: float = 0.2,
        bracket: bool = True,
        prior_weight: float = 0.02,
    ) -> None:
        check_config(kappa0, target_error, kappa_min, kappa_max, window, tolerance, space, max_step, slope0, bracket,
                      prior_weight)
        self.kappa0 = float(kappa0)
        self.target_error = float(target_error)
        self.kappa_min = float(kappa_min)
        self.kappa_max = float(kappa_max)
        self.window = int(window)
        self.tolerance = float(tolerance)
        self.space = space
        self.max_step = None if max_step is None else float(max_step)
        self.slope0 = float(slope0)
        self.bracket = bool(bracket)
        self.prior_weight = float(prior_weight)
        self._kappa = self.kappa0
        self._range: list[float] | None = None  # the coming epoch's data range, once given
        self._pending: dict[str, Any] = {}  # set_range's record, merged into the next history entry
        self._slope = self.slope0  # |de / d ln kappa| of the last good fit (slope0 before one)
        self.history: list[dict[str, Any]] = []

    @property
    def kappa(self) -> float:
        """The kappa to mine the coming epoch with."""
        return self._kappa

    def bounds(self) -> tuple[float, float]:
        """The admissible [lo, hi] now: the data range (if given) inside [kappa_min, kappa_max]."""
        if self._range is None:
            return self.kappa_min, self.kappa_max
        lo, hi = (min(max(v, self.kappa_min), self.kappa_max) for v in self._range)
        return lo, hi

    def set_range(self, lo: float, hi: float) -> float:
        """Adopt the data's admissible range for the coming epoch; clamp kappa into it and return it."""
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
            raise SmartMiningError(f"kappa controller: the data range must satisfy 0 < lo <= hi, got [{lo!r}, {hi!r}]")
        self._range = [float(lo), float(hi)]
        lo_eff, hi_eff = self.bounds()
        proposed = self._kappa
        kappa = min(max(proposed, lo_eff), hi_eff)
        clamp = "hi" if proposed > hi_eff else "lo" if proposed < lo_eff else None
        if clamp and not self.history and not self._pending:
            warnings.warn(f"kappa controller: kappa0 = {proposed:g} lies outside the data's admissible range "
                          f"[{lo_eff:.3g}, {hi_eff:.3g}]; mining with {kappa:.3g} instead", stacklevel=2)
        self._pending = {"range_lo": lo_eff, "range_hi": hi_eff, "kappa_proposed": proposed, "clamp": clamp}
        self._kappa = kappa
        return kappa

    def observe(
        self, error: float, epoch: int | None = None, error_mined: float | None = None,
        error_random: float | None = None,
    ) -> float:
        """Record the error e of the epoch just trained with ``kappa``; return (and adopt) the next kappa.

        ``error_mined``/``error_random`` (e over the mined and the random triplets only) are recorded and
        quoted in an unreachable reason. ``epoch`` labels the entry (default: previous label + 1, from 1).
        """
        error = _check_error(error, "error")
        extras = {name: None if value is None else _check_error(value, name)
                  for name, value in (("error_mined", error_mined), ("error_random", error_random))}
        kappa, target = self._kappa, self.target_error
        lo, hi = self.bounds()
        off = error - target
        pairs = [(h["error"], self._x(h["kappa"])) for h in self.history[-(self.window - 1):]] + [(error, self._x(kappa))]
        alpha = beta = reason = None
        if abs(off) <= self.tolerance:
            rule, kappa_next = "hold", kappa
        elif off > 0 and kappa >= hi * (1 - _EDGE) or off < 0 and kappa <= lo * (1 + _EDGE):
            rule, kappa_next = "unreachable", kappa
            reason = self._reason(error, kappa, off > 0, extras["error_random"])
        else:
            dx = 1.0 if self.space == "log" else kappa  # d x / d ln kappa at the current kappa
            fit = _ridge_fit(pairs, target, -self._slope / dx, self.prior_weight * dx * dx,
                             (self.slope0 * SLOPE_RANGE[0] / dx, self.slope0 * SLOPE_RANGE[1] / dx))
            proposal = None if fit is None else self._k(fit[0] * target + fit[1])
            if proposal is not None and (proposal - kappa) * off > 0:  # moves the way e asks
                (alpha, beta), kappa_next = fit, proposal
                rule = "fit" if len({x for _, x in pairs}) > 1 else "prior"
                if rule == "fit":
                    slope = -1.0 / alpha if self.space == "log" else -proposal / alpha
                    self._slope = min(max(slope, self.slope0 * SLOPE_RANGE[0]), self.slope0 * SLOPE_RANGE[1])
            else:
                rule, kappa_next = "prior", kappa * math.exp(off / self._slope)
            if self.bracket:
                kappa_next = self._bracketed(pairs, kappa_next)
            if self.max_step is not None:
                kappa_next = min(max(kappa_next, kappa / self.max_step), kappa * self.max_step)
        kappa_next = float(min(max(kappa_next, lo), hi))
        entry = {"epoch": self._next_epoch() if epoch is None else int(epoch), "error": error, **extras,
                 "kappa": kappa, "range_lo": None, "range_hi": None, "kappa_proposed": kappa, "clamp": None}
        entry.update(self._pending)
        entry.update(rule=rule, alpha=alpha, beta=beta, slope=self._slope, kappa_next=kappa_next, unreachable=reason is not None,
                     reason=reason)
        self.history.append(entry)
        self._pending = {}
        self._kappa = kappa_next
        return kappa_next

    def state_dict(self) -> dict[str, Any]:
        """Configuration, current kappa, range and history as plain JSON types (for checkpoints)."""
        state: dict[str, Any] = {key: getattr(self, key) for key in _CONFIG_KEYS}
        state.update(kappa=self._kappa, slope=self._slope, range=None if self._range is None else list(self._range),
                     pending=dict(self._pending), history=[dict(entry) for entry in self.history])
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; later calls behave as the saved controller's would."""
        missing = [key for key in (*_CONFIG_KEYS, "kappa", "slope", "range", "pending", "history") if key not in state]
        if missing:
            raise SmartMiningError(f"kappa controller state: missing keys {missing} (saved by an older controller? "
                                   "retrain from scratch)")
        config = {key: state[key] for key in _CONFIG_KEYS}
        check_config(**config)
        kappa = float(state["kappa"])
        if not config["kappa_min"] <= kappa <= config["kappa_max"]:
            raise SmartMiningError(f"kappa controller state: kappa {kappa} lies outside its clamp")
        self.__init__(**config)  # type: ignore[misc]
        self._kappa = kappa
        self._slope = float(state["slope"])
        self._range = None if state["range"] is None else [float(v) for v in state["range"]]
        self._pending = dict(state["pending"])
        self.history = [dict(entry) for entry in state["history"]]

    # -- helpers --------------------------------------------------------------------------------------
    def _x(self, kappa: float) -> float:
        return math.log(kappa) if self.space == "log" else kappa

    def _k(self, x: float) -> float | None:
        if not math.isfinite(x):
            return None
        if self.space == "log":
            return math.exp(min(x, 700.0))
        return x if x > 0 else None

    def _bracketed(self, pairs: list[tuple[float, float]], kappa_next: float) -> float:
        """Keep the step strictly inside the window's bracket of the target (bisect in x where it leaves it)."""
        above = [x for e, x in pairs if e > self.target_error]  # too hard: the target lies at a larger kappa
        below = [x for e, x in pairs if e < self.target_error]
        if not above or not below or max(above) >= min(below):
            return kappa_next  # no bracket, or an inconsistent one (noise, drift)
        left, right = max(above), min(below)
        x = self._x(kappa_next)
        if left < x < right:
            return kappa_next
        return self._k(0.5 * (left + right)) or kappa_next

    def _reason(self, error: float, kappa: float, above: bool, error_random: float | None) -> str:
        side = ("above", "largest", "the softest triplets the lists offer are still too hard") if above else \
            ("below", "smallest", "the hardest triplets the lists offer are not hard enough")
        text = f"e = {error:.3f} {side[0]} target {self.target_error:g} at the {side[1]} admissible kappa {kappa:.3g}: {side[2]}"
        if error_random is not None:
            text += f" (random triplets alone: e = {error_random:.3f})"
        return text

    def _next_epoch(self) -> int:
        return int(self.history[-1]["epoch"]) + 1 if self.history else 1


def _ridge_fit(
    pairs: list[tuple[float, float]], target_error: float, b0: float, lam: float, slope_range: tuple[float, float]
) -> tuple[float, float] | None:
    """(alpha, beta) of x = alpha * e + beta, or None where the slope is not negative.

    The line is estimated as e = a + b x (the noise is in e, kappa is set exactly) by weighted least
    squares with a ridge pull of b towards b0: minimise sum w (e - a - b x)^2 + lam (b - b0)^2, weights
    w = (bandwidth / (|e - e_target| + bandwidth))^2 in (0, 1]. One distinct x gives b = b0. A negative
    b is then kept within -slope_range (the line still passes through the weighted mean pair).
    """
    errors = np.array([p[0] for p in pairs], dtype=np.float64)
    xs = np.array([p[1] for p in pairs], dtype=np.float64)
    weights = (FIT_BANDWIDTH / (np.abs(errors - target_error) + FIT_BANDWIDTH)) ** 2
    mean_e, mean_x = float(weights @ errors / weights.sum()), float(weights @ xs / weights.sum())
    sxx = float(weights @ (xs - mean_x) ** 2)
    sxe = float(weights @ ((xs - mean_x) * (errors - mean_e)))
    b = (sxe + lam * b0) / (sxx + lam) if sxx + lam > 0 else b0
    if not (math.isfinite(b) and b < 0):
        return None
    b = -min(max(-b, slope_range[0]), slope_range[1])
    return 1.0 / b, mean_x - mean_e / b


def _check_error(error: float, name: str) -> float:
    try:
        value = float(error)
    except (TypeError, ValueError):
        raise SmartMiningError(f"kappa controller: {name} must be a number in [0, 1], got {error!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise SmartMiningError(f"kappa controller: {name} must be a number in [0, 1], got {error!r}")
    return value


def check_config(
    kappa0: float, target_error: float, kappa_min: float, kappa_max: float, window: int, tolerance: float,
    space: str = "log", max_step: float | None = None, slope0: float = 0.2, bracket: bool = True,
    prior_weight: float = 0.02,
) -> None:
    if not (math.isfinite(kappa_min) and kappa_min > 0):
        raise SmartMiningError(f"kappa_min must be a finite number > 0, got {kappa_min!r}")
    if not (math.isfinite(kappa_max) and kappa_max > kappa_min):
        raise SmartMiningError(f"kappa_max must be a finite number > kappa_min ({kappa_min}), got {kappa_max!r}")
    if not kappa_min <= kappa0 <= kappa_max:
        raise SmartMiningError(f"kappa0 must lie in the clamp [{kappa_min}, {kappa_max}], got {kappa0!r}")
    if not 0.0 < target_error < 1.0:
        raise SmartMiningError(f"target_error must lie in (0, 1), got {target_error!r}")
    if not isinstance(window, (int, np.integer)) or isinstance(window, bool) or window < 2:
        raise SmartMiningError(f"window must be an integer >= 2 (a line needs two points), got {window!r}")
    if not 0.0 <= tolerance < min(target_error, 1.0 - target_error):
        raise SmartMiningError(
            f"tolerance must lie in [0, {min(target_error, 1.0 - target_error)}) for target_error "
            f"{target_error}, got {tolerance!r}"
        )
    if space not in ("log", "linear"):
        raise SmartMiningError(f"space must be 'log' or 'linear', got {space!r}")
    if max_step is not None and not (isinstance(max_step, (int, float)) and math.isfinite(max_step) and max_step > 1):
        raise SmartMiningError(f"max_step must be null (no limit) or a finite factor > 1, got {max_step!r}")
    if not (isinstance(slope0, (int, float)) and math.isfinite(slope0) and slope0 > 0):
        raise SmartMiningError(f"slope0 must be a finite number > 0 (|de / d ln kappa|), got {slope0!r}")
    if not (isinstance(prior_weight, (int, float)) and math.isfinite(prior_weight) and prior_weight >= 0):
        raise SmartMiningError(f"prior_weight must be a finite number >= 0, got {prior_weight!r}")
    if not isinstance(bracket, bool):
        raise SmartMiningError(f"bracket must be true or false, got {bracket!r}")
