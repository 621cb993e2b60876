"""One run on several processes: ``torchrun --nproc_per_node=N -m smartmining train ...``.

Every rank holds the whole model (DistributedDataParallel) and the same data; what is split and what is
shared (docs in README "One run on several GPUs"):

- re-embedding (and the validation/test embedding) is sharded: rank r embeds a contiguous slice of the
  split, ``torch.distributed.all_gather`` gives every rank the whole embedding;
- the epoch's triplets are mined once, by rank 0, from the gathered embedding; rank 0 sends the epoch's
  batches, its generator state and the kappa source's state to the other ranks (online miners such as
  semi-hard mine inside each step, on the gathered batch, identically on every rank);
- each step's distinct images are split across ranks; a rank forwards its share, the embeddings are
  gathered (the rank's own part keeps its gradient), and the loss of the WHOLE step is taken on every
  rank: the global loss's means and variances are over the global batch. Backpropagating
  ``world_size x loss`` gives each rank the partial gradient of its images; DDP's average of these is the
  single-process gradient. Augmentation draws are made for the whole step on every rank (the same torch
  generator everywhere), so the crops equal a single-process run's. Batch norm uses SyncBatchNorm on GPUs
  (global-batch statistics); on CPUs (gloo, no SyncBatchNorm) its statistics are per rank;
- rank 0 writes the checkpoint (the bare model, no DDP prefix) and every output; a checkpoint resumes on
  any world size, 1 included. Metrics are computed by rank 0 and sent to the others, so every rank's
  epochs.csv row is identical and equals a single-process row's format.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from smartmining.errors import SmartMiningError
from smartmining.evaluation.metrics import evaluate
from smartmining.mining.base import OnlineMiner
from smartmining.models.embedding import embed
from smartmining.training.steps import EpochContext, EpochSteps, fixed_step
from smartmining.training.trainer import Trainer, check_finite

log = logging.getLogger(__name__)


def world_from_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun (or SLURM through torchrun) sets them; (0, 1, 0) alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def setup(device: str) -> tuple[int, int]:
    """Join the process group torchrun describes (NCCL on GPUs, gloo on CPUs); (rank, world size)."""
    rank, world, local = world_from_env()
    if world <= 1:
        return 0, 1
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)  # "cuda" then means this rank's GPU
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if rank > 0:  # one log, one progress bar: rank 0's
        logging.getLogger("smartmining").setLevel(logging.WARNING)
    return dist.get_rank(), dist.get_world_size()


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def shard_bounds(n: int, world: int) -> np.ndarray:
    """Cut points of ``n`` items into ``world`` contiguous shards whose sizes differ by at most one."""
    return np.linspace(0, n, world + 1).round().astype(int)


def gather_rows(local: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
    """All ranks' rows (rank order) on every rank; the rank's own rows stay in the autograd graph."""
    width = max(sizes)
    padded = local.detach().new_zeros((width, *local.shape[1:]))
    padded[: len(local)] = local.detach()
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    rows = [p[:s] for p, s in zip(parts, sizes)]
    rows[rank] = local
    return torch.cat(rows)


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (pickled)."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class DistributedTrainer(Trainer):
    """The trainer of one rank; the epoch loop, the log and the checkpoint format are the base class's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        cuda = self.device.type == "cuda"
        if cuda:  # batch norm over the global batch (same parameters and state keys; gloo has no SyncBatchNorm)
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.ddp = DistributedDataParallel(self.model, device_ids=[torch.cuda.current_device()] if cuda else None)
        # all_gather runs where the backend works: NCCL gathers GPU tensors, gloo CPU ones
        self.comm_device = self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    # -- sharded embedding -----------------------------------------------------------------------------
    def embed_split(self, name: str) -> np.ndarray:
        images = self.data.split(name).images
        cuts = shard_bounds(len(images), self.world)
        lo, hi = int(cuts[self.rank]), int(cuts[self.rank + 1])
        local = torch.from_numpy(embed(self.model, images[lo:hi], self.data.test_transform, device=self.device))
        full = gather_rows(local.to(self.comm_device), list(np.diff(cuts)), self.rank)
        return full.cpu().numpy()

    def evaluate_split(self, name: str) -> tuple[dict[str, float], np.ndarray]:
        emb = self.embed_split(name)
        ev = self.settings.evaluation
        metrics = evaluate(emb, self.data.split(name).labels, ks=ev.ks, seed=ev.seed) if self.rank == 0 else None
        return broadcast(metrics), emb

    # -- the epoch's plan: mined once, by rank 0 -------------------------------------------------------
    def plan(self, ctx: EpochContext) -> EpochSteps:
        if isinstance(self.miner, OnlineMiner):  # no mining before the epoch: every rank plans alike
            return super().plan(ctx)
        if self.rank == 0:
            embed_all = ctx.embed_train

            def announced() -> np.ndarray:  # the other ranks wait in the loop below and join the embedding
                broadcast("embed")
                return embed_all()

            ctx.embed_train = announced
            plan = super().plan(ctx)
            broadcast({"batches": [s.triplets for s in plan.steps], "stats": plan.stats, "mined": plan.mined,
                       "rng": self.rng.bit_generator.state, "kappa": self.kappa.state_dict() if self.kappa else None})
            return plan
        while (message := broadcast(None)) == "embed":
            ctx.embed_train()
        self.rng.bit_generator.state = message["rng"]
        if self.kappa is not None:
            self.kappa.load_state_dict(message["kappa"])
        return EpochSteps([fixed_step(t, self.device) for t in message["batches"]], message["stats"], message["mined"])

    # -- one step over the ranks -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.settings.train.amp):
            return self.ddp(x).float()

    def step(self, step: Any, epoch: int, b: int) -> tuple[Any, torch.Tensor]:
        n = len(step.images)
        if n < self.world:
            raise SmartMiningError(f"a step of {n} images cannot be split across {self.world} processes; "
                                   f"raise train.batch_triplets or use fewer processes")
        cuts = shard_bounds(n, self.world)
        lo, hi = int(cuts[self.rank]), int(cuts[self.rank + 1])
        images = self.data.split("train").images[torch.as_tensor(step.images)].to(self.device, non_blocking=True)
        x = self.data.train_transform(images)[lo:hi]  # the whole step's draws, as one process makes them
        local = self.forward(x)
        check_finite(local, "embedding", epoch, b)
        emb = gather_rows(local.to(self.comm_device), list(np.diff(cuts)), self.rank).to(self.device)
        a, p, n_, is_random = step.select(emb.detach())
        ref = step.reference(emb)
        out = self.objective(emb[a], ref[p], ref[n_])
        check_finite(out.total, "loss", epoch, b)
        self.optimizer.zero_grad(set_to_none=True)
        (out.total * self.world).backward()  # DDP averages the ranks' partial gradients: x world = their sum
        self.optimizer.step()
        return out, is_random

    # -- rank 0 writes ---------------------------------------------------------------------------------
    def checkpoint(self, started: str) -> None:
        if self.rank == 0:
            super().checkpoint(started)
        dist.barrier()

    def write_epochs(self) -> None:
        if self.rank == 0:
            super().write_epochs()

    def write_outputs(self, emb: np.ndarray, started: str) -> dict[str, Any]:
        if self.rank == 0:
            final = super().write_outputs(emb, started)
        else:
            final = None
        return broadcast(final)


def remove_checkpoint(path: Path, rank: int) -> None:
    """``--restart``: rank 0 removes the checkpoint, the others wait until it is gone."""
    if rank == 0:
        path.unlink(missing_ok=True)
    if dist.is_initialized():
        dist.barrier()
