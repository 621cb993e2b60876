"""Smart mining over a memory of recent embeddings (``smart-xbm``): Algorithm 1 without re-embedding.

A variant the paper did not have. Each step's anchors are the batch; their neighbour lists are the batch
and a first-in-first-out memory of the last ``memory_size`` embeddings (detached, as in Wang et al.'s
cross-batch memory), searched whole (``smart_whole``). Where Algorithm 1 finds no triplet for an anchor
a random triplet from the same reference set takes its place, so every method trains on the same number
of triplets. Positives and negatives index ``reference(emb)`` = the batch, then the memory.
"""

from __future__ import annotations

import torch

from smartmining.checks import check_int
from smartmining.mining.base import OnlineMiner
from smartmining.mining.smart_torch import smart_whole, squared_distances


class XbmMiner(OnlineMiner):
    """stats (of the last call): n_triplets, random_fallbacks, memory (entries held), mean_d2_p1."""

    name = "xbm"

    def __init__(self, kappa: float, memory_size: int, seed: int = 0, per_anchor: int = 1) -> None:
        super().__init__()
        self.kappa = float(kappa)
        self.per_anchor = check_int("per_anchor", per_anchor)
        self.memory_size = check_int("mining.xbm_memory", memory_size)
        self.generator = torch.Generator().manual_seed(seed)
        self.memory: torch.Tensor | None = None
        self.memory_labels: torch.Tensor | None = None
        self._snapshot: torch.Tensor | None = None

    def reference(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The list the last ``mine`` indexed: the batch (with its gradient) followed by the memory it saw."""
        return embeddings if self._snapshot is None else torch.cat([embeddings, self._snapshot.to(embeddings.dtype)])

    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        emb = embeddings.detach()
        held = self.memory if self.memory is not None else emb[:0]
        held_labels = self.memory_labels if self.memory_labels is not None else labels[:0]
        ref, ref_labels = torch.cat([emb, held]), torch.cat([labels, held_labels])
        b = len(emb)
        exclude = torch.zeros(b, len(ref), dtype=torch.bool, device=emb.device)
        exclude[:, :b] = torch.eye(b, dtype=torch.bool, device=emb.device)
        (a, p, n), stats = smart_whole(labels, ref_labels, squared_distances(emb, ref), self.kappa, self.per_anchor, exclude)
        deficit = self.per_anchor - torch.bincount(a, minlength=b)
        missing = torch.repeat_interleave(torch.arange(b, device=emb.device), deficit)
        ra, rp, rn = self._random(labels, ref_labels, exclude, missing)
        self._snapshot = held
        self._enqueue(emb, labels)
        self.stats = {"n_triplets": float(len(a) + len(ra)), "random_fallbacks": float(len(ra)), "memory": float(len(held)),
                      "mean_d2_p1": stats["mean_d2_p1"]}
        order = torch.argsort(torch.cat([a, ra]))
        return torch.cat([a, ra])[order], torch.cat([p, rp])[order], torch.cat([n, rn])[order]

    def _random(self, labels: torch.Tensor, ref_labels: torch.Tensor, exclude: torch.Tensor,
                anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A uniform positive and negative from the reference set for each anchor Algorithm 1 left without one."""
        same = (ref_labels[None, :] == labels[anchors, None]) & ~exclude[anchors]
        other = ref_labels[None, :] != labels[anchors, None]
        keep = same.any(1) & other.any(1)
        anchors, same, other = anchors[keep], same[keep], other[keep]
        noise = torch.rand(same.shape, generator=self.generator).to(same.device)
        pick = lambda mask: torch.where(mask, noise, -1.0).argmax(1)  # noqa: E731
        return anchors, pick(same), pick(other)

    def _enqueue(self, emb: torch.Tensor, labels: torch.Tensor) -> None:
        mem = emb if self.memory is None else torch.cat([self.memory, emb])
        mem_labels = labels if self.memory_labels is None else torch.cat([self.memory_labels, labels])
        self.memory, self.memory_labels = mem[-self.memory_size:], mem_labels[-self.memory_size:]

    def state_dict(self) -> dict[str, object]:
        return {"memory": self.memory, "memory_labels": self.memory_labels, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.memory, self.memory_labels = state["memory"], state["memory_labels"]  # type: ignore[assignment]
        self.generator.set_state(state["generator"])  # type: ignore[arg-type]
