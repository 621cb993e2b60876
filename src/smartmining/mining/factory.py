"""One miner and one kappa source for every method of the matrix: the trainer never branches on names."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from smartmining.controller_laws import build_controller
from smartmining.methods import MethodSpec
from smartmining.mining.base import OfflineMiner, OnlineMiner
from smartmining.mining.hard import HardMiner
from smartmining.mining.random import RandomMiner
from smartmining.mining.semihard import SemiHardMiner
from smartmining.mining.smart import SmartMiner
from smartmining.mining.xbm import XbmMiner
from smartmining.settings import Settings


class KappaSource(Protocol):
    """Where smart mining reads kappa before each epoch's mining and reports the epoch's training error."""

    @property
    def kappa(self) -> float: ...

    def observe(self, error: float, epoch: int | None = None, error_mined: float | None = None,
                error_random: float | None = None) -> float: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class FixedKappa:
    """A hand-tuned kappa (the non-adaptive methods): observing the error changes nothing."""

    def __init__(self, kappa: float) -> None:
        self._kappa = float(kappa)

    @property
    def kappa(self) -> float:
        return self._kappa

    def observe(self, error: float, epoch: int | None = None, error_mined: float | None = None,
                error_random: float | None = None) -> float:
        return self._kappa

    def state_dict(self) -> dict[str, Any]:
        return {"kappa": self._kappa}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._kappa = float(state["kappa"])


def build_miner(spec: MethodSpec, settings: Settings, seed: int = 0) -> OfflineMiner | OnlineMiner:
    m = settings.mining
    if spec.miner == "xbm":
        batch_images = settings.train.semihard_classes * settings.train.semihard_per_class  # P x K anchors a step
        return XbmMiner(kappa=m.kappa, memory_size=m.xbm_memory, seed=seed,
                        per_anchor=-(-settings.train.batch_triplets // batch_images))
    if spec.miner == "smart":
        miner = SmartMiner(kappa=m.kappa, k=m.k, index=m.index, index_params=m.index_params, recall_sample=m.recall_sample)
        miner.scale_share = settings.controller.range_share
        return miner
    if spec.miner == "hard":
        return HardMiner(chunk_size=m.hard_chunk)
    if spec.miner == "semihard":
        return SemiHardMiner(margin=settings.loss.margin)
    return RandomMiner()


def build_kappa(spec: MethodSpec, settings: Settings) -> KappaSource | None:
    """The controller (adaptive methods), the fixed kappa (smart mining), or None (kappa plays no part)."""
    if spec.adaptive:
        return build_controller(spec.controller_law(settings.controller.law), asdict(settings.controller))
    if spec.miner == "smart":
        return FixedKappa(settings.mining.kappa)
    return None
