"""The scale of kappa on the data: which boundary scales (eq. 6) can produce triplets at all this epoch.

Algorithm 1 (PAPER.md section 4) lets a neighbour x of anchor a qualify when it comes after p1 in the
sorted list and ``d2(a, x) > kappa * d2(a, p1)``. Read on one anchor's list, that gives two numbers:

- ``kfirst``: d2 of the first negative after p1, over d2(p1). Lists are sorted, so every entry after p1
  has d2 >= d2(p1) and ``kfirst >= 1``. For every kappa < kfirst the boundary excludes nothing the
  algorithm would use (positives it could pair are farther than that negative), so the anchor's
  triplets are those of kappa = 0: the boundary is inert for this anchor.
- ``kmax``: d2 of the last negative after p1, over d2(p1): the anchor has a qualifying negative exactly
  when kappa < kmax. 0 where the list holds no positive or no negative after p1.

The admissible range over the anchors [ours]:
- ``kappa_hi``: the largest kappa such that at least ``share`` (default 0.5) of the anchors still have a
  qualifying negative for every smaller kappa (the ``share``-quantile from the top of kmax; anchors
  without a positive count as having none). Above it, more than half the mined triplets become random
  fallbacks and the training error measures the fallbacks, not the boundary.
- ``kappa_lo``: the ``floor_quantile`` (default 0.05) quantile of kfirst, and at least 1. Below it the
  boundary changes the triplets of at most that share of anchors: lowering kappa further does nothing.
  (kappa < 1 never matters: negatives are taken only after p1, all at d2 >= d2(p1).)
If fewer than ``share`` of the anchors have any qualifying negative, kappa_hi is set to kappa_lo and
``degenerate`` is 1. d2(p1) = 0 (a duplicate image) is read as 1e-30, so its ratios are huge, not NaN.

Pure functions: arrays in, a dataclass out. ``anchor_scale`` works on one block of lists (rows per anchor,
in order, id -1 = missing); blocks of different list lengths are joined with ``AnchorScale.concat``.
"""

from __future__ import annotations

from collections.abc import Callable

import math
from dataclasses import dataclass

import numpy as np

from smartmining.errors import SmartMiningError

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_TINY = 1e-30


@dataclass(frozen=True)
class AnchorScale:
    """Per-anchor arrays (float64, one entry per anchor); NaN where undefined.

    d2p1: squared distance of the nearest listed positive (NaN: no positive listed).
    kfirst: d2 of the first negative after p1 over d2p1 (NaN: none).
    kmax: the largest kappa at which a qualifying negative remains (0: none).
    d2n1: d2 of the first qualifying negative at the given kappa (NaN: none, or no kappa given).
    """

    d2p1: np.ndarray
    kfirst: np.ndarray
    kmax: np.ndarray
    d2n1: np.ndarray

    @classmethod
    def concat(cls, *parts: AnchorScale) -> AnchorScale:
        if not parts:
            raise SmartMiningError("AnchorScale.concat needs at least one part")
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("d2p1", "kfirst", "kmax", "d2n1")))


@dataclass(frozen=True)
class KappaScale:
    """The epoch's kappa scale: quantiles (at QUANTILES) and the admissible range."""

    n_anchors: int
    share_with_positive: float
    d2p1_q: tuple[float, ...]
    kfirst_q: tuple[float, ...]
    kmax_q: tuple[float, ...]
    d2n1_q: tuple[float, ...]
    kappa_lo: float
    kappa_hi: float
    share: float
    share_at_lo: float  # anchors with a qualifying negative at kappa_lo
    share_at_hi: float  # anchors whose kmax >= kappa_hi (>= share unless degenerate)
    share_at_kappa: float  # at the given kappa (NaN if none given)
    degenerate: bool

    def as_log_row(self) -> dict[str, float]:
        """Flat float columns for the epoch log: d2p1_q05 ... kmax_q95, kappa_lo, kappa_hi, ..."""
        row: dict[str, float] = {"scale_anchors": float(self.n_anchors), "share_with_positive": self.share_with_positive}
        for name in ("d2p1", "kfirst", "kmax", "d2n1"):
            for q, value in zip(QUANTILES, getattr(self, f"{name}_q")):
                row[f"{name}_q{round(q * 100):02d}"] = float(value)
        row.update(kappa_lo=self.kappa_lo, kappa_hi=self.kappa_hi, share_at_lo=self.share_at_lo,
                   share_at_hi=self.share_at_hi, share_at_kappa=self.share_at_kappa,
                   scale_degenerate=float(self.degenerate))
        return row


def anchor_scale(
    labels: np.ndarray, anchors: np.ndarray, nbr_idx: np.ndarray, nbr_sqdist: np.ndarray, kappa: float | None = None
) -> AnchorScale:
    """Per-anchor d2(p1), kfirst, kmax and (at ``kappa``) d2 of the first qualifying negative.

    ``nbr_idx`` (m, k) ids and ``nbr_sqdist`` (m, k) squared distances, one row per anchor in order,
    sorted nearest first; id -1 (missing) and the anchor itself are ignored, as in ``smart_triplets``.
    """
    labels = np.asarray(labels)
    anchors = np.asarray(anchors)
    idx = np.asarray(nbr_idx)
    sq = np.asarray(nbr_sqdist)
    if labels.ndim != 1 or anchors.ndim != 1:
        raise SmartMiningError(f"kappa scale: labels and anchors must be 1-D, got {labels.shape} and {anchors.shape}")
    if anchors.size and not np.issubdtype(anchors.dtype, np.integer):
        raise SmartMiningError(f"kappa scale: anchors must be integer ids, got {anchors.dtype}")
    if idx.ndim != 2 or idx.shape[0] != len(anchors) or sq.shape != idx.shape:
        raise SmartMiningError(
            f"kappa scale: nbr_idx and nbr_sqdist must both be (anchors={len(anchors)}, k), got {idx.shape} and {sq.shape}")
    if idx.size and (idx.max() >= len(labels) or idx.min() < -1):
        raise SmartMiningError(f"kappa scale: nbr_idx holds ids outside [-1, {len(labels)})")
    if anchors.size and (anchors.min() < 0 or anchors.max() >= len(labels)):
        raise SmartMiningError(f"kappa scale: anchors must be ids in [0, {len(labels)})")
    if kappa is not None and not (math.isfinite(kappa) and kappa >= 0):
        raise SmartMiningError(f"kappa scale: kappa must be a finite number >= 0, got {kappa!r}")
    m, k = idx.shape
    if m == 0 or k == 0:
        empty = np.full(m, np.nan)
        return AnchorScale(empty, empty.copy(), np.zeros(m), empty.copy())
    idx = idx.astype(np.int64, copy=False)
    sq = sq.astype(np.float64)
    rows = np.arange(m)

    listed = (idx >= 0) & (idx != anchors[:, None])
    same = listed & (labels[np.where(listed, idx, 0)] == labels[anchors][:, None])
    has_pos = same.any(1)
    p1 = same.argmax(1)
    d2p1 = np.where(has_pos, sq[rows, p1], np.nan)
    after = listed & ~same & (np.arange(k) > p1[:, None]) & has_pos[:, None]  # negatives after p1
    has_neg = after.any(1)
    ratio = sq / np.maximum(np.nan_to_num(d2p1, nan=1.0), _TINY)[:, None]
    first_col = after.argmax(1)
    last_col = k - 1 - after[:, ::-1].argmax(1)
    kfirst = np.where(has_neg, ratio[rows, first_col], np.nan)
    kmax = np.where(has_neg, ratio[rows, last_col], 0.0)
    d2n1 = np.full(m, np.nan)
    if kappa is not None:
        qual = after & (sq > kappa * np.nan_to_num(d2p1, nan=np.inf)[:, None])
        found = qual.any(1)
        d2n1[found] = sq[rows[found], qual[found].argmax(1)]
    return AnchorScale(d2p1, kfirst, kmax, d2n1)


def summarize(scale: AnchorScale, kappa: float | None = None, share: float = 0.5,
              floor_quantile: float = 0.05) -> KappaScale:
    """Quantiles of the per-anchor arrays and the admissible kappa range (module docstring)."""
    if not 0.0 < share <= 1.0:
        raise SmartMiningError(f"kappa scale: share must lie in (0, 1], got {share!r}")
    if not 0.0 <= floor_quantile <= 1.0:
        raise SmartMiningError(f"kappa scale: floor_quantile must lie in [0, 1], got {floor_quantile!r}")
    m = len(scale.kmax)
    if m == 0:
        raise SmartMiningError("kappa scale: no anchors to measure")
    kfirst = scale.kfirst[np.isfinite(scale.kfirst)]
    kappa_lo = max(1.0, float(np.quantile(kfirst, floor_quantile))) if kfirst.size else 1.0
    top = np.sort(scale.kmax)[::-1]
    raw_hi = float(top[math.ceil(share * m) - 1])  # share(kappa') >= share for every kappa' < raw_hi
    degenerate = raw_hi < kappa_lo
    kappa_hi = kappa_lo if degenerate else raw_hi
    return KappaScale(
        n_anchors=m,
        share_with_positive=float(np.isfinite(scale.d2p1).mean()),
        d2p1_q=_quantiles(scale.d2p1),
        kfirst_q=_quantiles(scale.kfirst),
        kmax_q=_quantiles(scale.kmax),
        d2n1_q=_quantiles(scale.d2n1),
        kappa_lo=kappa_lo,
        kappa_hi=kappa_hi,
        share=float(share),
        share_at_lo=float((scale.kmax > kappa_lo).mean()),
        share_at_hi=float((scale.kmax >= kappa_hi).mean()),
        share_at_kappa=float((scale.kmax > kappa).mean()) if kappa is not None else math.nan,
        degenerate=bool(degenerate),
    )


def kappa_scale(
    labels: np.ndarray, anchors: np.ndarray, nbr_idx: np.ndarray, nbr_sqdist: np.ndarray,
    kappa: float | None = None, share: float = 0.5, floor_quantile: float = 0.05,
) -> KappaScale:
    """``summarize(anchor_scale(...))`` for one block of lists."""
    return summarize(anchor_scale(labels, anchors, nbr_idx, nbr_sqdist, kappa), kappa, share, floor_quantile)


def _quantiles(values: np.ndarray) -> tuple[float, ...]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return tuple(math.nan for _ in QUANTILES)
    return tuple(float(v) for v in np.quantile(finite, QUANTILES))


def steer_on_lists(labels: np.ndarray, anchors: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                   kappa: float, on_scale: Callable[[KappaScale], float] | None = None,
                   share: float = 0.5) -> tuple[float, KappaScale]:
    """Measure the kappa scale on an epoch's lists (``SmartMiner``'s groups of (positions, ids, sqdist)),
    let ``on_scale`` (the controller's ``set_range``) choose kappa from it, and return that kappa with the
    scale measured at it."""
    def measured(at: float | None) -> KappaScale:
        parts = [anchor_scale(labels, anchors[pos], ids, sq, at) for pos, ids, sq in groups if len(pos)]
        return summarize(AnchorScale.concat(*parts), at, share)

    if on_scale is not None:
        kappa = float(on_scale(measured(None)))
    return kappa, measured(kappa)
