"""Triplet miners: random, semi-hard (online), exhaustive hard, and smart mining (Algorithm 1)."""

from __future__ import annotations

from smartmining.mining.base import OfflineMiner, OnlineMiner, Triplets
from smartmining.mining.hard import HardMiner, hard_triplets
from smartmining.neighbours import build_index, index_recall, search
from smartmining.mining.random import RandomMiner, random_triplets, valid_anchors
from smartmining.mining.semihard import SemiHardMiner, pk_batches, semihard_triplets
from smartmining.mining.smart import SmartMiner, smart_triplets

__all__ = [
    "HardMiner",
    "OfflineMiner",
    "OnlineMiner",
    "RandomMiner",
    "SemiHardMiner",
    "SmartMiner",
    "Triplets",
    "build_index",
    "hard_triplets",
    "index_recall",
    "pk_batches",
    "random_triplets",
    "search",
    "semihard_triplets",
    "smart_triplets",
    "valid_anchors",
]
