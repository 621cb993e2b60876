"""One run on two processes (torch.distributed, gloo, CPU), as torchrun starts it: it finishes, resumes after
a kill, mines the same triplets as one process from the same checkpoint, and ends close to it."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from smartmining.training.distributed import gather_rows, shard_bounds

METHOD = "smart+global+adaptive"  # offline mining (rank 0 mines), adaptive kappa, the global loss
from conftest import SMOKE_SELECTION as SELECTION  # noqa: E402
EPOCHS = 2  # epoch 1: random warm-up; epoch 2 mines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record_mined(cls: type, out: Path):  # noqa: ANN202
    """``cls.plan`` wrapped to save the epoch's mined triplets (a, p, n rows) in ``out``."""
    plan = cls.plan

    def recording(self, ctx):  # noqa: ANN001, ANN202
        steps = plan(self, ctx)
        m = steps.mined
        np.save(out / f"mined-{ctx.epoch}-rank{getattr(self, 'rank', 0)}.npy",
                np.stack([m.anchors, m.positives, m.negatives], 1))
        return steps

    return recording


def _train(profile: dict, out: Path, data: Path, backbone: Path) -> dict:
    from smartmining.training.job import train_named

    return train_named(profile, "glyphs", METHOD, 0, out, data, selection=SELECTION, init_from=backbone, progress=False)


def _rank(rank: int, world: int, port: int, out: Path, data: Path, backbone: Path, die_after: int | None) -> None:
    """One process of the run, with the environment torchrun gives it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from smartmining.config import apply_overrides, load_params
    from smartmining.training.distributed import DistributedTrainer

    profile = apply_overrides(load_params(Path(__file__).resolve().parents[1] / "params.yaml", "smoke"),
                              [f"train.epochs={EPOCHS}"])
    DistributedTrainer.plan = _record_mined(DistributedTrainer, out)
    if die_after is not None:
        checkpoint = DistributedTrainer.checkpoint

        def then_die(self, started):  # noqa: ANN001, ANN202
            checkpoint(self, started)
            if self.epoch == die_after:
                os._exit(3)  # killed: no clean-up, no outputs

        DistributedTrainer.checkpoint = then_die
    _train(profile, out, data, backbone)


def _spawn(out: Path, data: Path, backbone: Path, die_after: int | None = None) -> None:
    mp.spawn(_rank, args=(2, _free_port(), out, data, backbone, die_after), nprocs=2, join=True)


def test_shards_cover_the_items_once() -> None:
    for n in (0, 1, 5, 64, 101):
        for world in (1, 2, 3, 8):
            cuts = shard_bounds(n, world)
            assert cuts[0] == 0 and cuts[-1] == n and np.all(np.diff(cuts) >= 0)
            assert np.diff(cuts).max() - np.diff(cuts).min() <= 1


def test_gather_rows_keeps_the_local_gradient_on_one_process() -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        x = torch.arange(6.0).view(3, 2).requires_grad_()
        y = gather_rows(x, [3], 0)
        y.sum().backward()
        assert torch.equal(y.detach(), x.detach()) and torch.equal(x.grad, torch.ones(3, 2))
    finally:
        dist.destroy_process_group()


def _gradient_rank(rank: int, world: int, port: int, out: Path) -> None:
    """A linear embedding without batch norm: each rank forwards its shard, the global loss over the gathered batch."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from smartmining.losses import TripletObjective

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 4)
    x = torch.randn(30, 8)
    a, p, n = torch.randint(0, 30, (3, 40))
    objective = TripletObjective(triplet="ratio", margin=0.2, use_global=True, global_t=0.01, global_lambda=1.0)
    single = objective(*(torch.nn.functional.normalize(net(x))[i] for i in (a, p, n))).total
    expected = torch.autograd.grad(single, net.weight)[0]
    ddp = DistributedDataParallel(net)
    cuts = shard_bounds(30, world)
    local = torch.nn.functional.normalize(ddp(x[cuts[rank]:cuts[rank + 1]]))
    emb = gather_rows(local, list(np.diff(cuts)), rank)
    out_ = objective(emb[a], emb[p], emb[n])
    (out_.total * world).backward()
    torch.save({"loss": float(out_.total), "single": float(single), "grad": net.weight.grad, "expected": expected},
               out / f"grad-{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_take_the_single_process_gradient_of_the_global_batch(tmp_path: Path) -> None:
    mp.spawn(_gradient_rank, args=(2, _free_port(), tmp_path), nprocs=2, join=True)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"grad-{rank}.pt")
        assert got["loss"] == pytest.approx(got["single"], rel=1e-6)
        torch.testing.assert_close(got["grad"], got["expected"], rtol=1e-5, atol=1e-6)


def test_two_processes_resume_after_a_kill_and_mine_what_one_process_mines(
    smoke_profile: dict, smoke_data: Path, smoke_backbone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = tmp_path / "two"
    two.mkdir()
    with pytest.raises(Exception):  # noqa: B017 - mp.spawn reports the killed processes
        _spawn(two, smoke_data, smoke_backbone, die_after=1)
    state = torch.load(two / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1 and not (two / "metrics.json").exists()
    assert not any(k.startswith("module.") for k in state["model"])  # the bare model: resumes on any world size
    one = tmp_path / "one"
    shutil.copytree(two, one)  # the same checkpoint for the one-process run

    _spawn(two, smoke_data, smoke_backbone)  # resumes at epoch 2 and finishes
    from smartmining.config import apply_overrides
    from smartmining.training.trainer import Trainer

    monkeypatch.setattr(Trainer, "plan", _record_mined(Trainer, one))
    _train(apply_overrides(smoke_profile, [f"train.epochs={EPOCHS}"]), one, smoke_data, smoke_backbone)

    # the 2-process run: one log in the single-process format, epochs 0-2, the kill lost nothing
    log2, log1 = pd.read_csv(two / "epochs.csv"), pd.read_csv(one / "epochs.csv")
    assert log2["epoch"].tolist() == [0, 1, 2] and list(log2.columns) == list(log1.columns)
    assert (log2.loc[log2.epoch > 0, "n_triplets"].to_numpy() == log1.loc[log1.epoch > 0, "n_triplets"].to_numpy()).all()
    # epoch 2 mined from the same checkpoint: the same triplets; rank 1 got rank 0's plan
    mined2 = np.load(two / "mined-2-rank0.npy")
    assert len(mined2) > 0
    np.testing.assert_array_equal(mined2, np.load(two / "mined-2-rank1.npy"))
    np.testing.assert_array_equal(mined2, np.load(one / "mined-2-rank0.npy"))
    assert log2.loc[2, "kappa"] == pytest.approx(log1.loc[2, "kappa"])
    # the same steps on the global batch; batch norm's statistics are per rank on CPUs (SyncBatchNorm needs
    # GPUs), so the loss agrees closely rather than exactly, and R@1 within 2 points
    assert log2.loc[2, "loss"] == pytest.approx(log1.loc[2, "loss"], rel=0.15)
    r2 = json.loads((two / "metrics.json").read_text())["recall@1"]
    r1 = json.loads((one / "metrics.json").read_text())["recall@1"]
    assert abs(r2 - r1) <= 0.02, (r2, r1)
    assert (two / "test_embeddings.npy").exists() and (two / "provenance.json").exists()
