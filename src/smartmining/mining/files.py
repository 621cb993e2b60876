"""``smartmining mine``: smart mining on saved embeddings, for people with their own embedding pipelines.

``check_mining_set`` is the pure check (shapes, NaN, labels, single-member classes); ``mine_files`` reads
the .npy files, mines one triplet per point (Algorithm 1 on exact or approximate FAISS lists), writes
the triplets as CSV (anchor, positive, negative, is_random) and, with a controller, its state as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from smartmining import atomic
from smartmining.controller import KappaController
from smartmining.errors import SmartMiningError
from smartmining.evaluation.io import read_array
from smartmining.mining.smart import SmartMiner


def check_mining_set(embeddings: np.ndarray, labels: np.ndarray, emb_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(float32 (N, d) embeddings, int64 (N,) labels), or a SmartMiningError naming the file at fault."""
    if embeddings.ndim != 2 or not np.issubdtype(embeddings.dtype, np.number) or embeddings.shape[0] < 2:
        raise SmartMiningError(f"{emb_name}: expected an N x d array of numbers (N >= 2), got {embeddings.dtype} {embeddings.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise SmartMiningError(f"{labels_name}: expected a 1-D array of integer labels, got {labels.dtype} {labels.shape}")
    if len(labels) != len(embeddings):
        raise SmartMiningError(
            f"{labels_name}: {len(labels)} labels for the {len(embeddings)} rows of {emb_name}; expected one label per row")
    finite = np.isfinite(embeddings).all(1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise SmartMiningError(f"{emb_name}: {len(rows)} rows hold NaN or inf (first: {rows[:5].tolist()})")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise SmartMiningError(f"{labels_name}: a single class ({classes.tolist()}); a triplet needs a negative of another class")
    if (counts < 2).any():
        lone = classes[counts < 2]
        raise SmartMiningError(
            f"{labels_name}: {len(lone)} classes have a single member, so they have no positive (first: "
            f"{lone[:5].tolist()}); drop those rows or merge the classes")
    return np.ascontiguousarray(embeddings, dtype=np.float32), labels.astype(np.int64)


def load_controller(path: Path, kappa0: float) -> KappaController:
    """The controller saved at ``path`` (KappaController.state_dict as JSON); a new one from kappa0 if none."""
    controller = KappaController(kappa0=kappa0)
    if path.is_file():
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SmartMiningError(f"{path}: not a readable controller state JSON ({exc})") from None
        if not isinstance(state, dict):
            raise SmartMiningError(f"{path}: expected a JSON object (KappaController.state_dict)")
        controller.load_state_dict(state)
    return controller


def mine_files(embeddings: Path, labels: Path, out: Path, *, kappa: float, k: int = 200, index: str = "flat",
               seed: int = 0, controller: Path | None = None, error: float | None = None,
               controller_out: Path | None = None) -> dict[str, Any]:
    """Mine one triplet per point of the saved set; write ``out`` (CSV) and the controller's state.

    With ``controller``: ``error`` (the training error of the epoch just trained on its kappa) is observed
    first, then the controller's kappa is used; the state goes to ``controller_out`` (default: back to
    ``controller``). Returns the miner's stats.
    """
    emb, lab = check_mining_set(read_array(embeddings, "N x d embeddings"), read_array(labels, "N integer labels"),
                                str(embeddings), str(labels))
    if error is not None and controller is None:
        raise SmartMiningError("--error is the training error for the controller: give --controller too")
    ctrl = load_controller(controller, kappa) if controller is not None else None
    if ctrl is not None and error is not None:
        ctrl.observe(error)
    miner = SmartMiner(kappa=ctrl.kappa if ctrl is not None else kappa, k=k, index=index)
    triplets = miner.mine(emb, lab, np.arange(len(lab)), np.random.default_rng(seed))
    table = np.stack([triplets.anchors, triplets.positives, triplets.negatives, triplets.is_random.astype(np.int64)], 1)
    with atomic.atomic_open(out) as fh:
        fh.write("anchor,positive,negative,is_random\n")
        np.savetxt(fh, table, fmt="%d", delimiter=",")
    if ctrl is not None:
        atomic.write_json(controller_out or controller, ctrl.state_dict())
    return dict(miner.stats)
