"""FaceNet semi-hard mining inside P x K class-balanced batches (the online baseline, PAPER.md section 6)."""

from __future__ import annotations

import numpy as np
import torch

from smartmining.checks import check_int
from smartmining.errors import SmartMiningError
from smartmining.mining.base import OnlineMiner

FALLBACKS = ("tf", "hardest")


def pairwise_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Plain L2 distances (B, B), clamped at 0 before the square root."""
    sq = (embeddings * embeddings).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * embeddings @ embeddings.T
    return d2.clamp_min(0.0).sqrt()


def semihard_selection(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float, fallback: str = "tf"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``semihard_triplets`` plus two bool tensors: the negative is semi-hard; the fallback rule chose it."""
    if fallback not in FALLBACKS:
        raise SmartMiningError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
    if embeddings.ndim != 2 or labels.ndim != 1 or len(labels) != len(embeddings):
        raise SmartMiningError(
            f"embeddings must be (B, d) and labels (B,), got {tuple(embeddings.shape)} and {tuple(labels.shape)}"
        )
    with torch.no_grad():
        dist = pairwise_distances(embeddings.detach())
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        a, p = torch.nonzero(same & ~eye, as_tuple=True)
        has_negative = (~same[a]).any(1)  # an anchor alone with its class in the batch has none
        a, p = a[has_negative], p[has_negative]
        d_ap = dist[a, p]
        d_an = dist[a]  # (pairs, B)
        is_neg = ~same[a]
        inf = torch.tensor(float("inf"), dtype=dist.dtype, device=dist.device)
        farther = is_neg & (d_an > d_ap[:, None])
        nearest_farther = torch.where(farther, d_an, inf).argmin(1)
        if fallback == "tf":
            rescue = torch.where(is_neg, d_an, -inf).argmax(1)  # farthest negative (all are closer than p)
        else:
            rescue = torch.where(is_neg, d_an, inf).argmin(1)  # nearest negative in the batch
        used_fallback = ~farther.any(1)
        n = torch.where(used_fallback, rescue, nearest_farther)
        d_n = dist[a, n]
        semihard = (d_n > d_ap) & (d_n < d_ap + margin)
    return a, p, n, semihard, used_fallback


def semihard_triplets(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float, fallback: str = "tf"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every anchor-positive pair of the batch with one negative (batch-local indices, plain L2).

    Rule, as TensorFlow's ``triplet_semihard_loss`` (FaceNet's reference code):
    - if some negative is farther than the positive (d(a,n) > d(a,p)), take the NEAREST of them; when
      a semi-hard negative exists (d(a,p) < d(a,n) < d(a,p) + margin) this is the nearest semi-hard one;
    - otherwise (every negative is at least as close as the positive), ``fallback="tf"`` takes the
      FARTHEST negative (the mildest hard one, as TF does), ``fallback="hardest"`` the nearest.
    Pairs whose anchor has no negative in the batch are dropped. Ties go to the lowest index. (TF's
    contrib version ranks squared distances: same order, so the same choice; the margin band uses L2.)
    """
    a, p, n, _, _ = semihard_selection(embeddings, labels, margin, fallback)
    return a, p, n


def pk_batches(labels: np.ndarray, P: int, K: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Class-balanced batches of P distinct classes x K images each, covering every image of the epoch.

    Each class (with at least 2 images; singletons cannot form a pair and are skipped) is shuffled and
    cut into chunks of K; the last chunk is the class's last K shuffled images, so it overlaps the
    previous one rather than being short. Classes with 2..K-1 images form a single smaller chunk (no
    image is repeated inside a batch). Each batch takes one chunk from each of the P classes with the most
    chunks left (random among ties), so classes drain evenly; chunks still left when fewer than P classes
    have any are dropped (only when one class outweighs the rest). The batch order is then shuffled.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise SmartMiningError(f"labels must be 1-D, got shape {labels.shape}")
    check_int("P (train.semihard_classes)", P, 2)
    check_int("K (train.semihard_per_class)", K, 2)
    classes, counts = np.unique(labels, return_counts=True)
    usable = classes[counts >= 2]
    if P > len(usable):
        raise SmartMiningError(f"P = {P} (train.semihard_classes) exceeds the {len(usable)} training classes with at "
                               f"least 2 images; set train.semihard_classes to at most {len(usable)}")
    chunks: list[list[np.ndarray]] = []
    for c in usable:
        members = rng.permutation(np.flatnonzero(labels == c))
        cuts = [members[i : i + K] for i in range(0, len(members) - K + 1, K)]
        if len(members) % K or not cuts:
            cuts.append(members[-K:])
        chunks.append(cuts)
    left = np.array([len(c) for c in chunks], dtype=np.int64)
    batches = []
    while (left > 0).sum() >= P:
        # The P classes with the most chunks left (random among ties) drain evenly, so few are left over.
        picked = np.lexsort((rng.random(len(left)), -left))[:P]
        batches.append(np.concatenate([chunks[c][left[c] - 1] for c in rng.permutation(picked)]))
        left[picked] -= 1
    return [batches[i] for i in rng.permutation(len(batches))]


class SemiHardMiner(OnlineMiner):
    """Online semi-hard mining (rule: ``semihard_triplets``).

    stats: n_triplets; frac_semihard (negative inside the margin band); frac_fallback (no negative
    was farther than the positive); the rest had their nearest farther negative beyond the margin.
    """

    name = "semihard"

    def __init__(self, margin: float = 0.2, fallback: str = "tf") -> None:
        super().__init__()
        if fallback not in FALLBACKS:
            raise SmartMiningError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.margin = float(margin)
        self.fallback = fallback

    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, p, n, semihard, used_fallback = semihard_selection(embeddings, labels, self.margin, self.fallback)
        count = len(a)
        self.stats = {
            "n_triplets": float(count),
            "frac_semihard": float(semihard.float().mean()) if count else 0.0,
            "frac_fallback": float(used_fallback.float().mean()) if count else 0.0,
        }
        return a, p, n
