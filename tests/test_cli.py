"""The command line as a user meets it: help everywhere, clear errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smartmining.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [[], ["prepare"], ["datasets"], ["methods"], ["train"], ["evaluate"],
                                     ["baseline"], ["report"]])
def test_every_subcommand_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_evaluate_writes_the_metrics_of_saved_embeddings(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 5)
    emb = rng.normal(size=(50, 8)).astype(np.float32) + labels[:, None] * 0.5
    np.save(tmp_path / "e.npy", emb)
    np.save(tmp_path / "l.npy", labels)
    result = CliRunner().invoke(main, ["evaluate", "--embeddings", str(tmp_path / "e.npy"), "--labels",
                                       str(tmp_path / "l.npy"), "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert set(metrics) == {"recall@1", "recall@2", "recall@4", "recall@8", "nmi", "map@r", "r_precision"}
    assert all(0 <= v <= 1 for v in metrics.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "--embeddings", "absent.npy", "--labels", "absent.npy", "--out", "m.json"], "absent.npy: no such file"),
        (["train", "--config", str(ROOT / "params.yaml"), "--dataset", "glyphs", "--method", "magic", "--seed", "0",
          "--out", "x"], "unknown method 'magic'"),
        (["prepare", "--dataset", "mnist", "--out", "x", "--no-config"], "mnist"),
        (["train", "--config", str(ROOT / "params.yaml"), "--set", "train.epochs=-1", "--dataset", "glyphs",
          "--method", "random", "--seed", "0", "--out", "x"], "train.epochs"),
    ],
)
def test_user_errors_are_one_clear_line_and_exit_2(tmp_path: Path, args: list[str], message: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


# --- the user's mistakes and the machine's state: one line, exit 2, nothing half-written ------------------


def _one_clear_line(result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, Path]:
    labels = np.repeat(np.arange(5), 4)
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32))
    np.save(tmp_path / "l.npy", labels)
    return tmp_path / "e.npy", tmp_path / "l.npy"


def test_a_bad_option_type_names_the_key_and_the_type(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["prepare", "--dataset", "glyphs", "--no-config", "--out", str(tmp_path / "g"),
                                       "--option", "n_classes=abc"])
    _one_clear_line(result, "n_classes", "'abc'", "an integer")
    assert not (tmp_path / "g").exists()


def test_out_under_a_file_is_one_line_naming_the_path(tmp_path: Path, saved) -> None:
    (tmp_path / "afile").write_text("in the way")
    emb, labels = saved
    result = CliRunner().invoke(main, ["evaluate", "--embeddings", str(emb), "--labels", str(labels),
                                       "--out", str(tmp_path / "afile" / "sub" / "m.json")])
    _one_clear_line(result, str(tmp_path / "afile"), "choose another path")
    assert (tmp_path / "afile").read_text() == "in the way"


def test_an_unwritable_folder_is_one_line_and_leaves_no_empty_folder(tmp_path: Path, saved,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    emb, labels = saved
    out = tmp_path / "new" / "deeper" / "m.json"
    result = CliRunner().invoke(main, ["evaluate", "--embeddings", str(emb), "--labels", str(labels), "--out", str(out)])
    _one_clear_line(result, str(out), "Permission denied", "no permission")
    assert not (tmp_path / "new").exists()  # the folders the failed command made are gone


def test_a_negative_seed_is_refused_with_exit_2() -> None:
    for args in (["train", "--dataset", "glyphs", "--method", "random", "--seed", "-1", "--out", "x"],
                 ["mine", "--embeddings", "e.npy", "--labels", "l.npy", "--out", "t.csv", "--seed", "-3"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "--seed" in result.output and "Traceback" not in result.output


def _train_args(tmp_path: Path, data: Path, backbone: Path, *more: str) -> list[str]:
    return ["train", "--config", str(ROOT / "params.yaml"), "--profile", "smoke", "--dataset", "glyphs",
            "--method", "smart", "--seed", "0", "--data-dir", str(data), "--init-from", str(backbone),
            "--selection", str(tmp_path / "selection.json"), "--quiet", *more]


@pytest.fixture
def selection(tmp_path: Path) -> Path:
    from conftest import SMOKE_SELECTION

    (tmp_path / "selection.json").write_text(json.dumps(SMOKE_SELECTION))
    return tmp_path / "selection.json"


def test_data_dependent_parameters_name_the_key_and_a_value_that_works(tmp_path: Path, smoke_data: Path,
                                                                        smoke_backbone: Path, selection: Path) -> None:
    out = tmp_path / "runs" / "r"
    result = CliRunner().invoke(main, _train_args(tmp_path, smoke_data, smoke_backbone, "--out", str(out),
                                                  "--set", "mining.k=5000", "--set", "evaluation.ks=[1,500]"))
    line = _one_clear_line(result, "mining.k = 5000", "set it to at most 71", "evaluation.ks", "Recall@500")
    assert "72 training images" in line
    assert not (tmp_path / "runs").exists()  # nothing created for a run that could not start


def test_a_failed_start_removes_the_empty_run_folder(tmp_path: Path, smoke_data: Path, selection: Path) -> None:
    out = tmp_path / "runs" / "r"
    result = CliRunner().invoke(main, _train_args(tmp_path, smoke_data, tmp_path / "no-backbone.pt", "--out", str(out)))
    _one_clear_line(result, "no-backbone.pt")
    assert not (tmp_path / "runs").exists()


def test_a_full_disk_says_so_and_keeps_the_last_good_checkpoint(tmp_path: Path, smoke_data: Path, smoke_backbone: Path,
                                                                selection: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from smartmining.training import trainer
    from smartmining.training.checkpoint import load_checkpoint

    real = trainer.save_checkpoint
    calls = []

    def fills_up(path: Path, state: dict) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, state)

    monkeypatch.setattr(trainer, "save_checkpoint", fills_up)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, _train_args(tmp_path, smoke_data, smoke_backbone, "--out", str(out),
                                                  "--set", "train.epochs=2"))
    _one_clear_line(result, "checkpoint.pt", "No space left on device", "the last complete checkpoint included")
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_faiss_loader_lines_only_with_verbose(saved) -> None:
    emb, labels = saved
    base = [sys.executable, "-m", "smartmining"]
    args = ["evaluate", "--embeddings", str(emb), "--labels", str(labels), "--out", str(emb.parent / "m.json")]
    quiet = subprocess.run([*base, *args], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and "faiss" not in quiet.stderr, quiet.stderr
    loud = subprocess.run([*base, "--verbose", *args], capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and "faiss.loader" in loud.stderr


@pytest.mark.parametrize("argv", [
    ["train", "--seed", "-1", "--dataset", "glyphs", "--method", "random", "--out", "x"],  # click's range check
    ["bogus"],                                                                          # click's unknown command
    ["check", "--dataset", "glyphs", "--config", "no-such-params.yaml"],                 # ours
])
def test_every_error_is_one_line_starting_the_same_way(argv: list[str], tmp_path: Path) -> None:
    import os

    import smartmining

    env = {**os.environ, "PYTHONPATH": str(Path(smartmining.__file__).resolve().parents[1])}  # this checkout's package
    proc = subprocess.run([sys.executable, "-m", "smartmining", *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
