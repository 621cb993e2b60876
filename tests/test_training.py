"""The training loop on the smoke profile: outputs, resume, determinism, failures that lose nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from smartmining import losses
from smartmining.errors import SmartMiningError
from smartmining.training import resume
from smartmining.training import trainer as trainer_module
from smartmining.training.checkpoint import load_checkpoint

METRICS = ("recall@1", "recall@2", "recall@4", "recall@8", "nmi")


@pytest.fixture(scope="module")
def full_run(smoke_profile: dict, train_smoke, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full")
    train_smoke(smoke_profile, out)
    return out


def test_a_run_writes_its_log_metrics_embeddings_and_provenance(full_run: Path, smoke_profile: dict) -> None:
    epochs = pd.read_csv(full_run / "epochs.csv")
    required = ["epoch", "loss", "loss_triplet", "loss_global", "train_error", "kappa", "mined_fraction",
                "random_fallbacks", "lr", "t_embed", "t_index", "t_mine", "t_train", "t_eval", *METRICS]
    assert [c for c in required if c not in epochs.columns] == []
    n_epochs = smoke_profile["train"]["epochs"]
    assert epochs["epoch"].tolist() == list(range(0, n_epochs + 1))  # epoch 0: the network before training
    warmup = smoke_profile["train"]["warmup_epochs"]
    trained = epochs[epochs.epoch > 0]
    # random-only warm-up, then mining at the selected fraction, with kappa recorded
    assert (trained.loc[trained.epoch <= warmup, "mined_fraction"] == 0).all()
    assert (trained.loc[trained.epoch > warmup, "mined_fraction"] == 0.5).all()
    assert trained.loc[trained.epoch > warmup, "kappa"].notna().all()
    assert trained["loss_global"].gt(0).any()  # the full method trains with the global loss
    # validation every epoch, test classes at the last epoch only; the regime probe every epoch
    assert epochs["val_recall@1"].between(0, 1).all() and epochs["random_zero_loss"].between(0, 1).all()
    assert epochs["recall@1"].iloc[:-1].isna().all()
    for m in METRICS:
        assert 0 <= epochs[m].iloc[-1] <= 1
    # the budget columns: one triplet per training anchor, in batches of batch_triplets
    assert (trained["n_triplets"] == trained["n_triplets"].iloc[0]).all()
    assert (trained["n_steps"] == np.ceil(trained["n_triplets"] / smoke_profile["train"]["batch_triplets"])).all()
    assert (trained["image_passes"] > 0).all()
    final = json.loads((full_run / "metrics.json").read_text())
    assert final["recall@1"] == pytest.approx(epochs["recall@1"].iloc[-1])
    emb = np.load(full_run / "test_embeddings.npy")
    labels = np.load(full_run / "test_labels.npy")
    assert emb.shape == (len(labels), smoke_profile["model"]["embedding_dim"])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    prov = json.loads((full_run / "provenance.json").read_text())
    assert {"git_commit", "versions", "device", "seed", "started", "finished"} <= set(prov)
    assert prov["seed"] == 0 and prov["versions"]["torch"] == torch.__version__.split("+")[0]
    config = json.loads((full_run / "config.json").read_text())
    assert config["method"] == "smart+global+adaptive" and "controller" in config


def test_resume_after_an_interruption_ends_with_the_same_metrics(
    full_run: Path, smoke_profile: dict, train_smoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = trainer_module.save_checkpoint

    def save_then_die(path: Path, state: dict) -> None:
        real_save(path, state)
        if state["epoch"] == 2:
            raise KeyboardInterrupt("killed after epoch 2")

    monkeypatch.setattr(trainer_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_smoke(smoke_profile, tmp_path)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    assert not (tmp_path / "metrics.json").exists()  # no final artifact from an unfinished run
    monkeypatch.undo()
    resumed = train_smoke(smoke_profile, tmp_path)
    uninterrupted = json.loads((full_run / "metrics.json").read_text())
    assert resumed == uninterrupted
    a = pd.read_csv(full_run / "epochs.csv")
    b = pd.read_csv(tmp_path / "epochs.csv")
    pd.testing.assert_frame_equal(a[["loss", "train_error", "kappa", *METRICS]], b[["loss", "train_error", "kappa", *METRICS]])


def test_same_seed_same_run_other_seed_other_run(
    full_run: Path, smoke_profile: dict, train_smoke, tmp_path: Path
) -> None:
    same = train_smoke(smoke_profile, tmp_path / "same")
    other = train_smoke(smoke_profile, tmp_path / "other", seed=1)
    reference = json.loads((full_run / "metrics.json").read_text())
    assert same == reference
    assert other != reference
    mined_same = json.loads((tmp_path / "same" / "samples.json").read_text())["epochs"]
    mined_ref = json.loads((full_run / "samples.json").read_text())["epochs"]
    assert mined_same == mined_ref and len(mined_ref) > 0


def test_a_finished_run_is_not_trained_again(full_run: Path, smoke_profile: dict, train_smoke,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainer_module, "run_epoch", lambda *a, **k: pytest.fail("trained again"))
    before = json.loads((full_run / "metrics.json").read_text())
    assert train_smoke(smoke_profile, full_run) == before


def test_a_checkpoint_of_other_parameters_is_refused(full_run: Path, smoke_profile: dict, train_smoke) -> None:
    from smartmining.config import apply_overrides

    changed = apply_overrides(smoke_profile, ["train.weight_decay=0.001"])  # (train.lr is tuned: the selection sets it)
    with pytest.raises(SmartMiningError, match="other parameters"):
        train_smoke(changed, full_run)
    with pytest.raises(SmartMiningError, match="belongs to method"):
        train_smoke(smoke_profile, full_run, method="random")


def test_raising_the_epochs_of_a_finished_run_continues_it(full_run: Path, smoke_profile: dict, train_smoke,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from smartmining.config import apply_overrides

    shutil.copytree(full_run, tmp_path / "run")
    n = smoke_profile["train"]["epochs"]
    trained = []
    real = trainer_module.run_epoch
    monkeypatch.setattr(trainer_module, "run_epoch", lambda tr, e: trained.append(e) or real(tr, e))
    train_smoke(apply_overrides(smoke_profile, [f"train.epochs={n + 1}"]), tmp_path / "run")
    assert trained == [n + 1]  # the old epochs are reused
    assert pd.read_csv(tmp_path / "run" / "epochs.csv")["epoch"].tolist() == list(range(0, n + 2))


def test_nan_loss_stops_naming_epoch_and_batch_and_keeps_the_last_checkpoint(
    smoke_profile: dict, train_smoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_forward = losses.TripletObjective.forward
    real_epoch = trainer_module.run_epoch
    now = {"epoch": 0}

    def poisoned(self, ea, ep, en):  # type: ignore[no-untyped-def]
        out = real_forward(self, ea, ep, en)
        if now["epoch"] == 2 and self.training:  # the second epoch's first training batch
            out.total = out.total * math.nan
        return out

    monkeypatch.setattr(losses.TripletObjective, "forward", poisoned)
    monkeypatch.setattr(trainer_module, "run_epoch", lambda tr, e: now.update(epoch=e) or real_epoch(tr, e))
    with pytest.raises(SmartMiningError, match=r"non-finite loss at epoch 2, batch 0"):
        train_smoke(smoke_profile, tmp_path, method="random")
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


@pytest.mark.parametrize("method", ["random", "semihard", "hard", "smart"])
def test_every_miner_trains(method: str, smoke_profile: dict, train_smoke, tmp_path: Path) -> None:
    from smartmining.config import apply_overrides

    short = apply_overrides(smoke_profile, ["train.epochs=2", "train.warmup_epochs=1"])
    final = train_smoke(short, tmp_path, method=method)
    assert 0 <= final["recall@1"] <= 1
    epochs = pd.read_csv(tmp_path / "epochs.csv").iloc[1:]
    assert epochs["loss"].notna().all() and (epochs["n_triplets"] > 0).all()
    if method in ("hard", "smart"):
        assert epochs["n_mined"].iloc[-1] > 0


def test_batch_and_k_larger_than_the_data_are_refused(smoke_profile: dict, train_smoke, tmp_path: Path) -> None:
    from smartmining.config import apply_overrides

    with pytest.raises(SmartMiningError, match="train.batch_triplets = 100000 exceeds"):
        train_smoke(apply_overrides(smoke_profile, ["train.batch_triplets=100000"]), tmp_path, method="random")
    with pytest.raises(SmartMiningError, match="mining.k = 5000 must be smaller"):
        train_smoke(apply_overrides(smoke_profile, ["mining.k=5000"]), tmp_path, method="smart")


def test_restart_if_changed_trains_afresh_with_the_new_parameters(
    full_run: Path, smoke_profile: dict, train_smoke, tmp_path: Path
) -> None:
    import shutil

    from smartmining.config import apply_overrides

    shutil.copytree(full_run, tmp_path / "run")
    changed = apply_overrides(smoke_profile, ["train.epochs=1", "train.lr=0.002"])
    train_smoke(changed, tmp_path / "run", restart_if_changed=True)
    assert len(pd.read_csv(tmp_path / "run" / "epochs.csv")) == 2  # epochs 0 and 1
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 1


def test_outputs_removed_by_a_pipeline_are_written_again_from_a_finished_checkpoint(
    full_run: Path, smoke_profile: dict, train_smoke, tmp_path: Path
) -> None:
    import shutil

    shutil.copytree(full_run, tmp_path / "run")
    for name in ("epochs.csv", "metrics.json", "test_embeddings.npy", "test_labels.npy"):
        (tmp_path / "run" / name).unlink()
    train_smoke(smoke_profile, tmp_path / "run")
    for name in ("epochs.csv", "metrics.json", "test_embeddings.npy", "test_labels.npy"):
        assert (tmp_path / "run" / name).exists()
    pd.testing.assert_frame_equal(pd.read_csv(full_run / "epochs.csv"), pd.read_csv(tmp_path / "run" / "epochs.csv"))


def test_mixed_precision_switch_trains(smoke_profile: dict, train_smoke, tmp_path: Path) -> None:
    from smartmining.config import apply_overrides

    cfg = apply_overrides(smoke_profile, ["train.epochs=1", "train.amp=true"])
    final = train_smoke(cfg, tmp_path, method="random")
    assert 0 <= final["recall@1"] <= 1
    assert json.loads((tmp_path / "config.json").read_text())["train"]["amp"] is True


def test_a_corrupt_image_stops_the_run_naming_it_or_is_skipped_and_counted(
    smoke_profile: dict, smoke_data: Path, train_smoke, tmp_path: Path
) -> None:
    import shutil

    from smartmining.config import apply_overrides

    data = tmp_path / "data"
    shutil.copytree(smoke_data, data)
    manifest = pd.read_csv(data / "manifest.csv")
    victim = manifest.loc[manifest["split"] == "train", "path"].iloc[3]
    (data / victim).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    cfg = apply_overrides(smoke_profile, ["train.epochs=1"])
    with pytest.raises(SmartMiningError, match=victim.replace("/", ".")):
        train_smoke(cfg, tmp_path / "stop", method="random", data=data)
    assert not (tmp_path / "stop" / "checkpoint.pt").exists()
    # skipping is decided when the data is prepared: a folder prepared without it is not silently reused
    with pytest.raises(SmartMiningError, match="skip_bad_images: prepared False vs needed True"):
        train_smoke(apply_overrides(cfg, ["train.skip_bad_images=true"]), tmp_path / "skip", method="random", data=data)
    record = json.loads((data / "dataset.json").read_text())
    record["options"]["skip_bad_images"] = True  # as prepare records it
    (data / "dataset.json").write_text(json.dumps(record))
    train_smoke(apply_overrides(cfg, ["train.skip_bad_images=true"]), tmp_path / "skip", method="random", data=data)
    prov = json.loads((tmp_path / "skip" / "provenance.json").read_text())
    # the seed redraws the split (train.redraw_split), so the victim's class may train, validate or test
    assert sum(prov["data"]["skipped_images"].values(), []) == [victim]


def test_restart_if_changed_also_retrains_when_the_training_code_changed(
    full_run: Path, smoke_profile: dict, train_smoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    shutil.copytree(full_run, tmp_path / "run")
    monkeypatch.setattr(resume, "training_code", lambda: "other code")
    calls = []
    real = trainer_module.run_epoch
    monkeypatch.setattr(trainer_module, "run_epoch", lambda tr, e: calls.append(e) or real(tr, e))
    train_smoke(smoke_profile, tmp_path / "run", restart_if_changed=True)
    assert calls == list(range(1, smoke_profile["train"]["epochs"] + 1))
