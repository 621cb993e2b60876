"""The method matrix: each method name is a miner plus the loss and controller switches it runs with."""

from __future__ import annotations

from dataclasses import dataclass

from smartmining.errors import SmartMiningError

MINERS = ("random", "semihard", "hard", "smart", "xbm")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    miner: str  # one of MINERS
    use_global: bool  # add the global loss J_g (eq. 3)
    adaptive: bool  # kappa from the controller (eqs. 7-8) instead of a fixed value
    law: str | None = None  # the controller law it forces (controller_laws.LAWS); None: controller.law

    def controller_law(self, configured: str) -> str:
        """The law an adaptive run steers kappa with: the method's own, else the profile's controller.law."""
        return self.law or configured

    @property
    def offline(self) -> bool:
        """Offline miners re-embed the training set and mine once per epoch (PAPER.md section 3)."""
        return self.miner in ("hard", "smart")


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("random", "random", False, False),
        MethodSpec("random+global", "random", True, False),
        MethodSpec("semihard", "semihard", False, False),
        MethodSpec("hard", "hard", False, False),
        MethodSpec("smart", "smart", False, False),
        MethodSpec("smart+global", "smart", True, False),
        MethodSpec("smart+global+adaptive", "smart", True, True),
        # the paper's law as written (eqs. 7-8) beside ours: least squares of kappa on e, clamp only
        MethodSpec("smart+global+adaptive-paper", "smart", True, True, law="paper"),
        MethodSpec("smart+adaptive", "smart", False, True),
        # ours, beyond the paper: smart mining over a memory of recent embeddings, no re-embedding
        MethodSpec("smart-xbm", "xbm", False, False),
    )
}

# The paper's row names for our methods (Tables 1-2), used by the report.
PAPER_ROWS: dict[str, str] = {
    "semihard": "Semi-hard (FaceNet)",
    "random+global": "Triplet + Global",
    "smart": "Triplet + FANNG",
    "smart+global": "Triplet + FANNG + Global",
    "smart+global+adaptive": "Triplet + FANNG + Global + Adaptive",
}


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise SmartMiningError(
            f"unknown method {name!r}; expected one of: {', '.join(METHODS)}"
        ) from None
