"""The adaptive controller of the exclusion-boundary scale kappa (eqs. 7-8, PAPER.md section 5).

The plant: a larger kappa pushes the boundary out, so the mined negatives are softer and the training
error e falls. The paper's model is kappa = alpha * e + beta, fitted by least squares on recent
(e, kappa) pairs, and the next kappa is alpha * e_target + beta; alpha must therefore be negative.

Our choices where the paper is silent [ours], all parameters:
- the first two controlled epochs use kappa0 and kappa0 / 2 (kappa0 * 2 where kappa0 / 2 would clamp
  onto kappa0), so the first fit has two distinct points;
- the least-squares fit weights each pair by 1 / (|e - e_target| + 0.05)^2: the plant is not linear
  (it saturates at e = 0 and e = 1), so the pairs near the target describe it where it matters;
- a fitted step moves kappa by at most the fallback's factor (x2 or /2) per epoch, so one poor
  extrapolation cannot throw kappa to a clamp;
- where the fit is degenerate (fewer than 2 distinct e or kappa, singular, non-finite) or has the wrong
  sign (alpha >= 0), a multiplicative step: halve kappa when e is below target, double it when above
  (as PAPER.md says, and consistent with the plant), hold it when e is within `tolerance` of the target
  (default 0.05, so noise around a reached target does not make kappa jump);
- kappa is always clamped to [kappa_min, kappa_max].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from smartmining.errors import SmartMiningError

# Fallback factor; also the largest factor a fitted step may move kappa by in one epoch.
STEP_FACTOR = 2.0
# Bandwidth of the fit's weights 1 / (|e - e_target| + bandwidth)^2.
FIT_BANDWIDTH = 0.05

_CONFIG_KEYS = ("kappa0", "target_error", "kappa_min", "kappa_max", "window", "tolerance")


class KappaController:
    """Chooses kappa for each epoch's mining from the training error of the epochs before."""

    def __init__(
        self,
        kappa0: float = 16.0,
        target_error: float = 0.5,
        kappa_min: float = 1.0,
        kappa_max: float = 64.0,
        window: int = 5,
        tolerance: float = 0.05,
    ) -> None:
        _check_config(kappa0, target_error, kappa_min, kappa_max, window, tolerance)
        self.kappa0 = float(kappa0)
        self.target_error = float(target_error)
        self.kappa_min = float(kappa_min)
        self.kappa_max = float(kappa_max)
        self.window = int(window)
        self.tolerance = float(tolerance)
        self._kappa = self.kappa0
        self.history: list[dict[str, Any]] = []

    @property
    def kappa(self) -> float:
        """The kappa to mine the coming epoch with."""
        return self._kappa

    def observe(self, error: float, epoch: int | None = None) -> float:
        """Record the error e of the epoch just trained with `kappa`; return (and adopt) the next kappa.

        `epoch` labels the history entry (default: the previous label + 1, starting at 1).
        """
        error = _check_error(error)
        kappa = self._kappa
        alpha = beta = None
        pairs = [(h["error"], h["kappa"]) for h in self.history[-(self.window - 1) :]] + [(error, kappa)]
        if len(self.history) == 0:
            rule = "init"
            kappa_next = self._second_kappa()
        else:
            fit = _weighted_fit(pairs, self.target_error)
            if fit is not None:
                rule = "fit"
                alpha, beta = fit
                proposed = alpha * self.target_error + beta
                kappa_next = min(max(proposed, kappa / STEP_FACTOR), kappa * STEP_FACTOR)
            else:
                rule = "fallback"
                kappa_next = kappa * self._fallback_factor(error)
        kappa_next = self._clamp(kappa_next)
        self.history.append(
            {
                "epoch": self._next_epoch() if epoch is None else int(epoch),
                "error": error,
                "kappa": kappa,
                "kappa_next": kappa_next,
                "rule": rule,
                "alpha": alpha,
                "beta": beta,
            }
        )
        self._kappa = kappa_next
        return kappa_next

    def state_dict(self) -> dict[str, Any]:
        """Configuration, current kappa and history as plain JSON types (for checkpoints)."""
        state: dict[str, Any] = {key: getattr(self, key) for key in _CONFIG_KEYS}
        state["kappa"] = self._kappa
        state["history"] = [dict(entry) for entry in self.history]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned; later `observe` calls behave as the saved controller's would."""
        missing = [key for key in (*_CONFIG_KEYS, "kappa", "history") if key not in state]
        if missing:
            raise SmartMiningError(f"kappa controller state: missing keys {missing}")
        config = {key: state[key] for key in _CONFIG_KEYS}
        _check_config(**config)
        kappa = float(state["kappa"])
        if not config["kappa_min"] <= kappa <= config["kappa_max"]:
            raise SmartMiningError(f"kappa controller state: kappa {kappa} lies outside its clamp")
        for key, value in config.items():
            setattr(self, key, int(value) if key == "window" else float(value))
        self._kappa = kappa
        self.history = [dict(entry) for entry in state["history"]]

    def _next_epoch(self) -> int:
        return int(self.history[-1]["epoch"]) + 1 if self.history else 1

    def _second_kappa(self) -> float:
        halved = self._clamp(self.kappa0 / STEP_FACTOR)
        return halved if halved != self.kappa0 else self._clamp(self.kappa0 * STEP_FACTOR)

    def _fallback_factor(self, error: float) -> float:
        if error < self.target_error - self.tolerance:
            return 1.0 / STEP_FACTOR  # too few violating triplets: harder negatives
        if error > self.target_error + self.tolerance:
            return STEP_FACTOR  # too many: softer negatives
        return 1.0

    def _clamp(self, kappa: float) -> float:
        return float(min(max(kappa, self.kappa_min), self.kappa_max))


def _weighted_fit(pairs: list[tuple[float, float]], target_error: float) -> tuple[float, float] | None:
    """(alpha, beta) of kappa = alpha * e + beta, or None where the fit is degenerate or alpha >= 0."""
    errors = np.array([p[0] for p in pairs], dtype=np.float64)
    kappas = np.array([p[1] for p in pairs], dtype=np.float64)
    if np.ptp(errors) <= 1e-12 or np.ptp(kappas) <= 1e-12:
        return None
    weights = 1.0 / (np.abs(errors - target_error) + FIT_BANDWIDTH) ** 2
    weights /= weights.sum()
    mean_e = float(weights @ errors)
    mean_k = float(weights @ kappas)
    var_e = float(weights @ (errors - mean_e) ** 2)
    if not var_e > 1e-12:
        return None
    alpha = float(weights @ ((errors - mean_e) * (kappas - mean_k))) / var_e
    beta = mean_k - alpha * mean_e
    if not (math.isfinite(alpha) and math.isfinite(beta)) or alpha >= 0:
        return None
    return alpha, beta


def _check_error(error: float) -> float:
    try:
        value = float(error)
    except (TypeError, ValueError):
        raise SmartMiningError(f"kappa controller: error must be a number in [0, 1], got {error!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise SmartMiningError(f"kappa controller: error must be a number in [0, 1], got {error!r}")
    return value


def _check_config(
    kappa0: float, target_error: float, kappa_min: float, kappa_max: float, window: int, tolerance: float
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
