"""The kappa controller on synthetic (e, kappa) plants: epochs to target per plant and per design choice.

    PYTHONPATH=src python benchmarks/controller_plants.py [--seeds 20] [--epochs 12] [--noise 0.02]

A plant maps the kappa an epoch is mined with (and the epoch) to that epoch's training error e, plus
Gaussian noise; it also gives the data's admissible range [lo, hi] (what mining/kappa_scale.py
measures). Target e = 0.5. Per plant, design and kappa0 in {1, 4, 16, 64}, over --seeds seeds:
- "ok@2": share of runs whose e is within 0.1 of target at the 2nd controlled epoch and every later one
  (the issue's acceptance test on glyphs);
- "settle": median over runs of the first controlled epoch from which e stays within 0.1 (">N": never);
- for the unreachable plants, the share of runs whose last entry is flagged unreachable at a bound.
The "old" design is the first release's law, copied here: probe kappa0 / 2, weighted linear fit,
x2 step limit, x2/halve fallback, clamp [1, 64], no data range.
"""

from __future__ import annotations

import argparse
import math
import statistics
import warnings

import numpy as np

from smartmining.controller import KappaController
from smartmining.controller_laws import PaperKappaController

TARGET = 0.5
KAPPA0S = (1.0, 4.0, 16.0, 64.0)


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def fallback_plant(kappa: float, epoch: int) -> float:
    """Modelled on glyphs: half the batch random (e_rand ~0.6), half mined; a mined anchor without a
    qualifying negative falls back to a random triplet. q(kappa) = share with one (lognormal kmax, median 4).
    Mined triplets are easier at training time the softer they are. U-shaped: beyond hi, e climbs back to
    e_rand as fallbacks take over, so an error above target there asks for a *smaller* kappa."""
    e_rand = 0.62 - 0.01 * epoch
    q = 1 - _phi(math.log(kappa / 4.0) / 0.5)
    e_real = 0.62 - 0.35 * math.log(kappa) / math.log(4.0) - 0.01 * epoch
    return 0.5 * e_rand + 0.5 * (q * max(e_real, 0.0) + (1 - q) * e_rand)


PLANTS = {  # name: (e(kappa, epoch), data range (lo, hi), reachable)
    "linear": (lambda k, t: 0.8 - 0.04 * (k - 1), (1.0, 16.0), True),
    "loglinear": (lambda k, t: 0.8 - 0.1 * math.log2(k), (1.0, 64.0), True),
    "steep-log": (lambda k, t: 0.9 - 0.25 * math.log2(k), (1.0, 16.0), True),
    "drift": (lambda k, t: 0.85 - 0.1 * math.log2(k) - 0.02 * t, (1.0, 64.0), True),
    "fallback": (lambda k, t: fallback_plant(k, 0), (1.0, 4.0), True),
    "fallback+drift": (fallback_plant, (1.0, 4.0), True),
    "flat-high": (lambda k, t: 0.7, (1.0, 8.0), False),
    "flat-low": (lambda k, t: 0.3, (1.5, 8.0), False),
}


class OldController:
    """The first release's controller (linear fit, x2 limit, probe kappa0 / 2, clamp [1, 64])."""

    def __init__(self, kappa0: float) -> None:
        self.kappa, self.pairs = kappa0, []

    def set_range(self, lo: float, hi: float) -> float:
        return self.kappa  # it knew no data range

    def observe(self, e: float) -> float:
        k = self.kappa
        self.pairs = (self.pairs + [(e, k)])[-5:]
        if len(self.pairs) == 1:
            nxt = k / 2 if k / 2 >= 1 else k * 2
        else:
            es, ks = np.array(self.pairs).T
            w = 1 / (np.abs(es - TARGET) + 0.05) ** 2
            ok = np.ptp(es) > 1e-12 and np.ptp(ks) > 1e-12
            alpha = np.polyfit(es, ks, 1, w=np.sqrt(w))[0] if ok else 0.0
            if ok and alpha < 0:
                beta = np.average(ks, weights=w) - alpha * np.average(es, weights=w)
                nxt = min(max(alpha * TARGET + beta, k / 2), k * 2)
            else:
                nxt = k / 2 if e < TARGET - 0.05 else k * 2 if e > TARGET + 0.05 else k
        self.kappa = float(min(max(nxt, 1.0), 64.0))
        return self.kappa


DESIGNS = {
    "old (linear, x2, no range)": lambda k0: OldController(k0),
    "log, no limit, range [default]": lambda k0: KappaController(kappa0=k0),
    "paper: kappa on e, clamp [1, 64]": lambda k0: PaperKappaController(kappa0=k0),
    "linear, no limit, range": lambda k0: KappaController(kappa0=k0, space="linear"),
    "log, x2 limit, range": lambda k0: KappaController(kappa0=k0, max_step=2.0),
    "log, no limit, NO range": lambda k0: _no_range(KappaController(kappa0=k0)),
    "log, no bracket, range": lambda k0: KappaController(kappa0=k0, bracket=False),
    "log, tolerance 0.05, range": lambda k0: KappaController(kappa0=k0, tolerance=0.05),
    "log, no ridge prior, range": lambda k0: KappaController(kappa0=k0, prior_weight=0.0),
    "log, ridge 0.1, range": lambda k0: KappaController(kappa0=k0, prior_weight=0.1),
    "log, window 5, range": lambda k0: KappaController(kappa0=k0, window=5),
    "log, window 6, range": lambda k0: KappaController(kappa0=k0, window=6),
    "log, slope0 0.1, range": lambda k0: KappaController(kappa0=k0, slope0=0.1),
    "log, slope0 0.3, range": lambda k0: KappaController(kappa0=k0, slope0=0.3),
}


def _no_range(controller: KappaController) -> KappaController:
    controller.set_range = lambda lo, hi: controller.kappa  # type: ignore[method-assign]
    return controller


def simulate(design, plant, kappa0: float, epochs: int, noise: float, seed: int):
    """Errors per controlled epoch and the controller."""
    fn, (lo, hi), _ = plant
    rng = np.random.default_rng(seed)
    ctl = design(kappa0)
    errors = []
    for t in range(epochs):
        kappa = ctl.set_range(lo, hi)
        e = float(np.clip(fn(kappa, t) + rng.normal(0, noise), 0, 1))
        errors.append(e)
        ctl.observe(e)
    return np.array(errors), ctl


def settle_epoch(errors: np.ndarray, band: float = 0.1) -> int | None:
    """First controlled epoch (1-based) from which every error is within band of target; None if never."""
    off = np.abs(errors - TARGET) > band
    if off[-1]:
        return None
    return int(np.flatnonzero(off)[-1] + 2) if off.any() else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--noise", type=float, default=0.02)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # "kappa0 outside the data range" is expected here, once per run
    print(f"target {TARGET}, noise sd {args.noise}, {args.epochs} controlled epochs, {args.seeds} seeds, kappa0 in {KAPPA0S}")
    for name, plant in PLANTS.items():
        reachable = plant[2]
        print(f"\n## {name}  (data range {plant[1]}, {'reachable' if reachable else 'UNREACHABLE'})")
        header = "ok@2 / settle median (max)" if reachable else "flagged at a bound / final kappa"
        print(f"{'design':34s} " + " ".join(f"{'k0=' + format(k, 'g'):>22s}" for k in KAPPA0S) + f"   [{header}]")
        for dname, design in DESIGNS.items():
            cells = []
            for k0 in KAPPA0S:
                runs = [simulate(design, plant, k0, args.epochs, args.noise, s) for s in range(args.seeds)]
                if reachable:
                    settles = [settle_epoch(errs) for errs, _ in runs]
                    ok2 = np.mean([s is not None and s <= 2 for s in settles])
                    nums = [s if s is not None else args.epochs + 1 for s in settles]
                    med, worst = statistics.median(nums), max(nums)
                    fmt = lambda v: f">{args.epochs}" if v > args.epochs else f"{v:g}"  # noqa: E731
                    cells.append(f"{ok2:4.0%} {fmt(med):>4s} ({fmt(worst)})")
                else:
                    flagged = np.mean([bool(getattr(c, "history", [{}])[-1].get("unreachable")) for _, c in runs])
                    final = statistics.median(c.kappa for _, c in runs)
                    cells.append(f"{flagged:4.0%} k={final:6.3g}")
            print(f"{dname:34s} " + " ".join(f"{c:>22s}" for c in cells))


if __name__ == "__main__":
    main()
