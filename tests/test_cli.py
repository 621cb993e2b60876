"""The command line as a user meets it: help everywhere, clear errors without tracebacks."""

from __future__ import annotations

import json
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
