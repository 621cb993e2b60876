"""Smart mining as a pytorch-metric-learning miner: ``from smartmining.pml import SmartMiner``.

    miner = SmartMiner(kappa=4.0)                        # or controller=KappaController(...)
    triplets = miner(embeddings, labels)                 # the batch is its own reference set
    triplets = miner(embeddings, labels, ref_emb, ref_labels)   # a memory bank as the reference set
    loss = loss_fn(embeddings, labels, triplets)

Algorithm 1 (PAPER.md section 4) with the batch's embeddings as anchors and the reference set as the
neighbour lists (smartmining.mining.smart_torch). Conventions, as PML's miners: a tuple (anchors,
positives, negatives) of int64 index tensors on the embeddings' device; anchors index ``embeddings``,
positives and negatives index ``ref_emb`` (the batch when none is given). Where Algorithm 1 would emit a
random triplet (no positive in the list, no qualifying negative left, no positive from outside the list)
this miner emits nothing and counts a fallback: PML miners return mined triplets only.
The anchor itself is never its own neighbour: by index when the batch is the reference set, and, for a
memory bank such as ``CrossBatchMemory``'s (which stores the batch before mining), the entries with the
anchor's label and a bit-identical embedding.

Distances: the miner's ``distance`` must be PML's LpDistance (the default, as the default of PML's
losses: Euclidean on L2-normalised embeddings); give the miner your loss's distance. The boundary of
eq. 6 is taken on its squared distance (torch.cdist, as the loss computes it). Similarities (cosine, dot
product) are refused. k-NN lists: torch (cdist + sort/topk) on the embeddings' device; FAISS (exact,
flat L2) for large CPU reference sets when ``k`` is given.

kappa: fixed, or a smartmining.controller.KappaController fed the loss's non-zero share: call
``record_loss(loss_fn)`` (or ``record(nonzero, total)``) after each step and ``end_epoch()`` once an
epoch, or pass ``update_every=N`` to update every N recorded steps. The controller's state travels in
the miner's ``state_dict()`` (and so in CrossBatchMemory's).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.miners import BaseMiner

from smartmining.controller import KappaController
from smartmining.errors import SmartMiningError
from smartmining.mining.smart_torch import self_copies, smart_from_lists, smart_whole, sorted_lists, squared_distances

# Above this many (batch x reference) distances, a CPU search with a given k goes to FAISS.
FAISS_ABOVE = 1 << 25
INDEX_CHOICES = ("auto", "torch", "faiss")
STATS = ("num_fallbacks", "num_no_positive", "num_outside_positives", "mean_d2_p1", "mean_neg_len")
_SELF_TOL = 1e-4  # relative: a zero squared distance after cdist's rounding


def _check_distance(distance: Any) -> None:
    if getattr(distance, "is_inverted", False):
        raise SmartMiningError(
            f"SmartMiner: distance {type(distance).__name__} is a similarity; the boundary of eq. 6 is defined "
            "on squared Euclidean distance. Use distance=LpDistance(normalize_embeddings=True) (the default), "
            "which on unit-norm embeddings ranks neighbours as cosine similarity does")
    if not isinstance(distance, LpDistance):
        raise SmartMiningError(f"SmartMiner: distance must be PML's LpDistance, got {type(distance).__name__}")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SmartMiningError(f"SmartMiner: {name} must be a positive integer, got {value!r}")
    return value


class SmartMiner(BaseMiner):
    """PML miner running smart mining (Algorithm 1); see the module docstring for the conventions.

    kappa: the exclusion boundary's scale (ignored when ``controller`` is given); k: list length (None:
    the whole reference set); triplets_per_anchor: at most this many per anchor, softest negative first;
    update_every: record()s between controller updates (None: only ``end_epoch``); index: "auto",
    "torch" or "faiss"; seed: of the draws of positives from outside a list (None: torch's global RNG).
    Other keyword arguments go to PML's BaseMiner (distance, collect_stats).
    """

    def __init__(self, kappa: float = 4.0, k: int | None = None, controller: KappaController | None = None,
                 triplets_per_anchor: int = 1, update_every: int | None = None, index: str = "auto",
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_distance(self.distance)
        if not (isinstance(kappa, (int, float)) and math.isfinite(kappa) and kappa >= 0):
            raise SmartMiningError(f"SmartMiner: kappa must be a finite number >= 0, got {kappa!r}")
        if controller is not None and not isinstance(controller, KappaController):
            raise SmartMiningError(f"SmartMiner: controller must be a KappaController, got {type(controller).__name__}")
        if index not in INDEX_CHOICES:
            raise SmartMiningError(f"SmartMiner: index must be one of {INDEX_CHOICES}, got {index!r}")
        self.k = None if k is None else _positive_int("k", k)
        self.triplets_per_anchor = _positive_int("triplets_per_anchor", triplets_per_anchor)
        self.update_every = None if update_every is None else _positive_int("update_every", update_every)
        if index == "faiss" and self.k is None:
            raise SmartMiningError("SmartMiner: index='faiss' needs an integer k")
        self._kappa, self.controller, self.index, self.seed = float(kappa), controller, index, seed
        self._generator: torch.Generator | None = None
        self._nonzero = self._total = 0.0
        self._steps = 0
        self.k_used = 0
        self.used_faiss = False
        for name in STATS:
            setattr(self, name, 0)
        self.add_to_recordable_attributes(list_of_names=list(STATS), is_stat=True)
        self.add_to_recordable_attributes(list_of_names=["kappa", "k_used"], is_stat=False)

    # -- kappa and its controller -----------------------------------------------------------------
    @property
    def kappa(self) -> float:
        """The kappa the next call mines with (the controller's, where there is one)."""
        return float(self.controller.kappa) if self.controller is not None else self._kappa

    @kappa.setter
    def kappa(self, value: float) -> None:
        if self.controller is not None:
            raise SmartMiningError("SmartMiner: kappa is the controller's; set it through the controller")
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise SmartMiningError(f"SmartMiner: kappa must be a finite number >= 0, got {value!r}")
        self._kappa = float(value)

    def record(self, nonzero: float, total: float) -> None:
        """Count a step's triplets with non-zero loss (``nonzero`` of ``total``) toward the training error."""
        if not 0 <= nonzero <= total:
            raise SmartMiningError(f"SmartMiner.record: need 0 <= nonzero <= total, got {nonzero} of {total}")
        self._nonzero += float(nonzero)
        self._total += float(total)
        self._steps += 1
        if self.update_every is not None and self._steps % self.update_every == 0:
            self.end_epoch()

    def record_loss(self, loss_fn: Any) -> None:
        """``record`` from a PML loss just called on this miner's triplets; its reducer must count the
        non-zero losses: AvgNonZeroReducer(collect_stats=True) (e.g. TripletMarginLoss(reducer=...))."""
        reducer = getattr(loss_fn, "reducer", None)
        if reducer is None or not getattr(reducer, "collect_stats", False) or not hasattr(reducer, "num_past_filter"):
            raise SmartMiningError(
                "SmartMiner.record_loss: the loss's reducer must count its non-zero losses; build the loss with "
                "reducer=AvgNonZeroReducer(collect_stats=True), or call record(nonzero, total) yourself")
        if self.num_triplets:
            self.record(min(int(reducer.num_past_filter), int(self.num_triplets)), int(self.num_triplets))

    def end_epoch(self) -> float:
        """Feed the recorded non-zero share to the controller (if any, and if anything was recorded);
        reset the counts; return the kappa of the coming steps."""
        if self.controller is not None and self._total > 0:
            self.controller.observe(self._nonzero / self._total)
        self._nonzero = self._total = 0.0
        return self.kappa

    def get_extra_state(self) -> dict[str, Any]:
        return {"kappa": self._kappa, "nonzero": self._nonzero, "total": self._total, "steps": self._steps,
                "controller": self.controller.state_dict() if self.controller is not None else None}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if (state.get("controller") is None) != (self.controller is None):
            raise SmartMiningError("SmartMiner.load_state_dict: the saved miner and this one differ in having a controller")
        if self.controller is not None:
            self.controller.load_state_dict(state["controller"])
        self._kappa, self._nonzero, self._total = float(state["kappa"]), float(state["nonzero"]), float(state["total"])
        self._steps = int(state["steps"])

    # -- mining -----------------------------------------------------------------------------------
    def _rng(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(int(self.seed))
        return self._generator

    def _use_faiss(self, x: torch.Tensor, n_ref: int) -> bool:
        if self.index == "faiss":
            return True
        return (self.index == "auto" and self.k is not None and x.device.type == "cpu"
                and self.distance.p == 2 and len(x) * n_ref > FAISS_ABOVE)

    def _faiss_lists(self, x, y, emb, ref, labels, ref_labels, k, same_set):
        """k-NN lists from an exact FAISS search (CPU), the anchor's own entry removed."""
        import faiss

        n_ref = len(y)
        kk = min(k + 1, n_ref)
        index = faiss.IndexFlatL2(y.shape[1])
        index.add(y.detach().float().cpu().contiguous().numpy())
        sq_np, ids_np = index.search(x.detach().float().cpu().contiguous().numpy(), kk)
        ids, sq = torch.from_numpy(ids_np).long(), torch.from_numpy(sq_np)
        if same_set:
            own = ids == torch.arange(len(x))[:, None]
        else:
            tol = _SELF_TOL * (x.square().sum(1)[:, None] + y.square().sum(1)[ids.clamp(min=0)])
            cand = (ids >= 0) & (sq <= tol) & (ref_labels[ids.clamp(min=0)] == labels[:, None])
            own = torch.zeros_like(cand)
            r, c = cand.nonzero(as_tuple=True)
            if r.numel():
                eq = (emb[r] == ref[ids[r, c]]).all(1)
                own[r[eq], c[eq]] = True
        exclude = ids.masked_fill(~own, -1)
        keep = torch.argsort(own.to(torch.uint8), dim=1, stable=True)[:, : min(k, n_ref)]
        ids, sq = ids.gather(1, keep), sq.gather(1, keep)
        ids = ids.masked_fill(own.gather(1, keep), -1)
        return ids, sq, exclude

    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor, ref_emb: torch.Tensor,
             ref_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        device = embeddings.device
        same_set = ref_emb is embeddings
        x = self.distance.maybe_normalize(embeddings)
        y = x if same_set else self.distance.maybe_normalize(ref_emb.to(device))
        ref_labels = ref_labels.to(device)
        if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
            raise SmartMiningError("SmartMiner: embeddings or ref_emb hold NaN or inf")
        self.used_faiss = self._use_faiss(x, len(y))
        if self.used_faiss:
            ids, sq, exclude = self._faiss_lists(x, y, embeddings, ref_emb, labels.cpu(), ref_labels.cpu(), self.k, same_set)
            ids, sq, exclude = ids.to(device), sq.to(device), exclude.to(device)
        else:
            sq_all = squared_distances(x, y, self.distance.p)
            tol = None if same_set else _SELF_TOL * (x.square().sum(1)[:, None] + y.square().sum(1)[None, :])
            exclude = self_copies(embeddings, ref_emb.to(device), labels, ref_labels, sq_all, tol)
            if self.k is None or self.k >= len(y):  # whole lists: no sort needed
                self.k_used = len(y)
                (a, p, n), stats = smart_whole(labels, ref_labels, sq_all, self.kappa, self.triplets_per_anchor, exclude)
                self._set_stats(stats)
                return a, p, n
            ids, sq = sorted_lists(sq_all, self.k, exclude)
        self.k_used = int(ids.shape[1])
        (a, p, n), stats = smart_from_lists(labels, ref_labels, ids, sq, self.kappa, self.triplets_per_anchor,
                                            exclude, self._rng(device))
        self._set_stats(stats)
        return a, p, n

    def _set_stats(self, stats: dict[str, float]) -> None:
        self.num_fallbacks, self.num_no_positive = int(stats["fallbacks"]), int(stats["no_positive"])
        self.num_outside_positives = int(stats["outside_positives"])
        self.mean_d2_p1, self.mean_neg_len = stats["mean_d2_p1"], stats["mean_neg_len"]
