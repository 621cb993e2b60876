"""Which kappa law steers an adaptive run (``controller.law``), and the paper's law as written.

- ``ours`` (controller.py, docs/controller.md): a ridge fit in ln kappa, held inside the data's admissible
  range, with a bracket, holds and an "unreachable" flag.
- ``paper`` (eqs. 7-8, PAPER.md section 5, literally): least squares of kappa on e over the window,
  ``kappa = alpha * e + beta``, then ``kappa_next = alpha * e_target + beta``, clamped to
  [kappa_min, kappa_max] only. No data range, no bracket, no hold: where kappa lies past every negative
  Algorithm 1 emits random fallbacks, and they are logged like any others.

What the paper leaves open stays a parameter [ours]: kappa0 and the window (shared with our law), the
second distinct kappa a 2-point fit needs (``paper_probe``: kappa x probe when e is above target, / probe
below), and what a degenerate fit (all e equal) or a wrong-sign one (alpha >= 0: a larger kappa would
raise e) does (``paper_fallback``: "step" by the probe factor the way the current error asks, or "hold").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from smartmining.controller import KappaController, _check_error, check_config
from smartmining.errors import SmartMiningError

LAWS = ("ours", "paper")
FALLBACKS = ("step", "hold")
# The controller section's keys each law reads (range_share is the miner's: it sizes the logged range).
OURS_KEYS = ("kappa0", "target_error", "kappa_min", "kappa_max", "window", "tolerance", "space", "max_step",
             "slope0", "bracket", "prior_weight")
PAPER_KEYS = {"kappa0": "kappa0", "target_error": "target_error", "kappa_min": "kappa_min", "kappa_max": "kappa_max",
              "window": "window", "paper_probe": "probe", "paper_fallback": "fallback"}  # section key -> argument
_STATE_KEYS = ("law", "kappa0", "target_error", "kappa_min", "kappa_max", "window", "probe", "fallback")


def least_squares(pairs: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(alpha, beta) of kappa = alpha * e + beta by ordinary least squares on (e, kappa) pairs; None where
    all e are equal (the slope is undefined)."""
    errors = np.array([p[0] for p in pairs], dtype=np.float64)
    kappas = np.array([p[1] for p in pairs], dtype=np.float64)
    see = float(((errors - errors.mean()) ** 2).sum())
    if see <= 1e-12:
        return None
    alpha = float(((errors - errors.mean()) * (kappas - kappas.mean())).sum()) / see
    return alpha, float(kappas.mean() - alpha * errors.mean())


class PaperKappaController:
    """The paper's law; the same interface as :class:`KappaController` (``set_range`` only records the range)."""

    law = "paper"

    def __init__(self, kappa0: float = 2.0, target_error: float = 0.5, kappa_min: float = 1.0,
                 kappa_max: float = 64.0, window: int = 3, probe: float = 2.0, fallback: str = "step") -> None:
        check_paper_config(kappa0, target_error, kappa_min, kappa_max, window, probe, fallback)
        self.kappa0, self.target_error = float(kappa0), float(target_error)
        self.kappa_min, self.kappa_max, self.window = float(kappa_min), float(kappa_max), int(window)
        self.probe, self.fallback = float(probe), fallback
        self._kappa = self._proposed = self.kappa0
        self._pending: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []

    @property
    def kappa(self) -> float:
        return self._kappa

    def set_range(self, lo: float, hi: float) -> float:
        """Record the data's admissible range for the epoch's log; kappa is not moved into it."""
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
            raise SmartMiningError(f"kappa controller: the data range must satisfy 0 < lo <= hi, got [{lo!r}, {hi!r}]")
        self._pending = {"range_lo": float(lo), "range_hi": float(hi)}
        return self._kappa

    def observe(self, error: float, epoch: int | None = None, error_mined: float | None = None,
                error_random: float | None = None) -> float:
        """Record e of the epoch mined with ``kappa``; return (and adopt) the next kappa."""
        error = _check_error(error, "error")
        extras = {name: None if v is None else _check_error(v, name)
                  for name, v in (("error_mined", error_mined), ("error_random", error_random))}
        kappa = self._kappa
        pairs = [(h["error"], h["kappa"]) for h in self.history[-(self.window - 1):]] + [(error, kappa)]
        fit = least_squares(pairs) if len({k for _, k in pairs}) > 1 else None
        alpha = beta = None
        if fit is not None and math.isfinite(fit[0]) and fit[0] < 0:
            (alpha, beta), rule = fit, "fit"
            proposal = alpha * self.target_error + beta
        else:
            rule = "probe" if len({k for _, k in pairs}) == 1 else "fallback"
            hold = rule == "fallback" and self.fallback == "hold" or error == self.target_error
            proposal = kappa if hold else kappa * self.probe if error > self.target_error else kappa / self.probe
            if fit is not None and rule == "fallback":
                alpha, beta = fit  # the wrong-sign fit, recorded
        kappa_next = float(min(max(proposal, self.kappa_min), self.kappa_max))
        entry = {"epoch": self._next_epoch() if epoch is None else int(epoch), "error": error, **extras,
                 "kappa": kappa, "range_lo": None, "range_hi": None, "kappa_proposed": self._proposed,
                 "clamp": _side(self._proposed, kappa)}
        entry.update(self._pending)
        entry.update(rule=rule, alpha=alpha, beta=beta, slope=None, kappa_next=kappa_next, unreachable=False, reason=None)
        self.history.append(entry)
        self._pending, self._kappa, self._proposed = {}, kappa_next, float(proposal)
        return kappa_next

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {key: getattr(self, key) for key in _STATE_KEYS}
        state.update(kappa=self._kappa, proposed=self._proposed, pending=dict(self._pending),
                     history=[dict(h) for h in self.history])
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("law") != "paper":
            raise SmartMiningError(f"kappa controller state: saved by the {state.get('law', 'ours')!r} law, not the "
                                   "paper's (retrain from scratch)")
        missing = [k for k in (*_STATE_KEYS, "kappa", "proposed", "pending", "history") if k not in state]
        if missing:
            raise SmartMiningError(f"kappa controller state: missing keys {missing}")
        self.__init__(**{k: state[k] for k in _STATE_KEYS if k != "law"})  # type: ignore[misc]
        self._kappa, self._proposed = float(state["kappa"]), float(state["proposed"])
        self._pending = dict(state["pending"])
        self.history = [dict(h) for h in state["history"]]

    def _next_epoch(self) -> int:
        return int(self.history[-1]["epoch"]) + 1 if self.history else 1


def _side(proposed: float, used: float) -> str | None:
    return "hi" if proposed > used else "lo" if proposed < used else None


def check_paper_config(kappa0: float, target_error: float, kappa_min: float, kappa_max: float, window: int,
                       probe: float, fallback: str) -> None:
    check_config(kappa0, target_error, kappa_min, kappa_max, window, 0.0)
    if not (isinstance(probe, (int, float)) and math.isfinite(probe) and probe > 1):
        raise SmartMiningError(f"paper_probe must be a finite factor > 1 (the second kappa of a 2-point fit), got {probe!r}")
    if fallback not in FALLBACKS:
        raise SmartMiningError(f"paper_fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")


def check_section(section: dict[str, Any]) -> None:
    """Validate a profile's controller section for both laws (the message names the key)."""
    if section.get("law", "ours") not in LAWS:
        raise SmartMiningError(f"law must be one of {', '.join(LAWS)}, got {section.get('law')!r}")
    check_config(**{k: section[k] for k in OURS_KEYS if k in section})
    paper = {arg: section[key] for key, arg in PAPER_KEYS.items() if key in section}
    if {"probe", "fallback"} <= set(paper):
        check_paper_config(**paper)


def build_controller(law: str, section: dict[str, Any]) -> KappaController | PaperKappaController:
    """The controller of ``law`` configured from a (complete) controller section."""
    if law == "ours":
        return KappaController(**{k: section[k] for k in OURS_KEYS})
    if law == "paper":
        return PaperKappaController(**{arg: section[key] for key, arg in PAPER_KEYS.items()})
    raise SmartMiningError(f"controller.law must be one of {', '.join(LAWS)}, got {law!r}")
