"""Triplet losses (PAPER.md section 2): the paper's ratio triplet loss, the FaceNet hinge, and the global loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from smartmining.errors import SmartMiningError

TRIPLET_LOSSES = ("ratio", "hinge")

# Added inside the square root so that d(a, b) has a finite gradient where a == b.
_SQRT_EPS = 1e-12


def triplet_distances(ea: Tensor, ep: Tensor, en: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-triplet (d_ap, d_an, sq_ap, sq_an): plain and squared L2 distances of rows of (N, m) embeddings."""
    if ea.ndim != 2 or ea.shape != ep.shape or ea.shape != en.shape:
        raise SmartMiningError(
            "triplet embeddings: anchors, positives and negatives must be (N, m) tensors of one shape, "
            f"got {tuple(ea.shape)}, {tuple(ep.shape)}, {tuple(en.shape)}"
        )
    if ea.shape[0] == 0:
        raise SmartMiningError("triplet embeddings: the batch holds no triplets (N = 0)")
    sq_ap = (ea - ep).pow(2).sum(dim=1)
    sq_an = (ea - en).pow(2).sum(dim=1)
    return torch.sqrt(sq_ap + _SQRT_EPS), torch.sqrt(sq_an + _SQRT_EPS), sq_ap, sq_an


def ratio_triplet_loss(d_ap: Tensor, d_an: Tensor, margin: float = 0.2) -> Tensor:
    """Eq. 2, per triplet: max(0, 1 - d(a,n) / (d(a,p) + m)) on plain L2 distances; > 0 iff d_an < d_ap + m."""
    _check_margin(margin)
    return torch.clamp(1.0 - d_an / (d_ap + margin), min=0.0)


def hinge_triplet_loss(d_ap: Tensor, d_an: Tensor, margin: float = 0.2) -> Tensor:
    """FaceNet hinge, per triplet: max(0, d_ap^2 - d_an^2 + m).

    Takes plain L2 distances and squares them: the margin acts on squared distances, as in FaceNet.
    """
    _check_margin(margin)
    return torch.clamp(d_ap.pow(2) - d_an.pow(2) + margin, min=0.0)


def global_loss(sq_ap: Tensor, sq_an: Tensor, t: float = 0.01, lam: float = 1.0) -> Tensor:
    """Eq. 3 over a batch: var(d+) + var(d-) + lam * max(0, mean(d+) - mean(d-) + t), d = squared distance / 4.

    The variances are population variances (divide by N), defined for a batch of one triplet too.
    """
    if sq_ap.ndim != 1 or sq_ap.shape != sq_an.shape or sq_ap.numel() == 0:
        raise SmartMiningError(
            "global_loss: sq_ap and sq_an must be non-empty 1-D tensors of one length, "
            f"got {tuple(sq_ap.shape)} and {tuple(sq_an.shape)}"
        )
    if not np.isfinite(t) or t < 0:
        raise SmartMiningError(f"global_loss: t must be a finite number >= 0, got {t!r}")
    if not np.isfinite(lam) or lam < 0:
        raise SmartMiningError(f"global_loss: lam must be a finite number >= 0, got {lam!r}")
    # For unit-norm embeddings ||f(a) - f(b)||^2 lies in [0, 4], so d+ and d- lie in [0, 1].
    d_pos = sq_ap / 4.0
    d_neg = sq_an / 4.0
    spread = d_pos.var(unbiased=False) + d_neg.var(unbiased=False)
    return spread + lam * torch.clamp(d_pos.mean() - d_neg.mean() + t, min=0.0)


def training_error(per_triplet: Tensor | np.ndarray) -> float:
    """PAPER section 5's signal e: the fraction of triplets whose loss J_t is non-zero."""
    values = per_triplet.detach().cpu().numpy() if isinstance(per_triplet, Tensor) else np.asarray(per_triplet)
    if values.size == 0:
        raise SmartMiningError("training_error: per_triplet holds no losses (an epoch with no triplets?)")
    if not np.all(np.isfinite(values)):
        raise SmartMiningError("training_error: per_triplet holds NaN or infinite losses")
    return float(np.count_nonzero(values > 0) / values.size)


@dataclass
class LossOutput:
    """One batch's loss: `total` to backpropagate, the rest detached for logging."""

    total: Tensor
    triplet: float
    global_: float
    per_triplet: Tensor
    active: int


class TripletObjective(torch.nn.Module):
    """J = mean(J_t) + J_g (J_g only with use_global); J_t is the ratio loss (eq. 2) or the FaceNet hinge."""

    def __init__(
        self,
        triplet: str = "ratio",
        margin: float = 0.2,
        use_global: bool = False,
        global_t: float = 0.01,
        global_lambda: float = 1.0,
    ) -> None:
        super().__init__()
        if triplet not in TRIPLET_LOSSES:
            raise SmartMiningError(f"triplet loss {triplet!r} is unknown; choices: {', '.join(TRIPLET_LOSSES)}")
        _check_margin(margin)
        self.triplet = triplet
        self.margin = float(margin)
        self.use_global = bool(use_global)
        self.global_t = float(global_t)
        self.global_lambda = float(global_lambda)

    def forward(self, ea: Tensor, ep: Tensor, en: Tensor) -> LossOutput:
        d_ap, d_an, sq_ap, sq_an = triplet_distances(ea, ep, en)
        per_loss = ratio_triplet_loss if self.triplet == "ratio" else hinge_triplet_loss
        per_triplet = per_loss(d_ap, d_an, self.margin)
        triplet_term = per_triplet.mean()
        total = triplet_term
        global_value = 0.0
        if self.use_global:
            global_term = global_loss(sq_ap, sq_an, self.global_t, self.global_lambda)
            total = total + global_term
            global_value = float(global_term.detach())
        per_triplet = per_triplet.detach()
        return LossOutput(
            total=total,
            triplet=float(triplet_term.detach()),
            global_=global_value,
            per_triplet=per_triplet,
            active=int(torch.count_nonzero(per_triplet > 0)),
        )

    def extra_repr(self) -> str:
        return f"triplet={self.triplet}, margin={self.margin}, use_global={self.use_global}"


def _check_margin(margin: float) -> None:
    if not np.isfinite(margin) or margin <= 0:
        raise SmartMiningError(f"triplet loss margin must be a finite number > 0, got {margin!r}")
