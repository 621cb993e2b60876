"""`smartmining mine`: triplets from saved embeddings, an adaptive kappa carried in a state file, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smartmining.cli import main
from smartmining.mining.smart import SmartMiner


def saved_set(tmp_path: Path, n: int = 200, classes: int = 10, seed: int = 0) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n // classes)
    x = rng.standard_normal((classes, 8))[labels] + rng.standard_normal((n, 8))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    np.save(tmp_path / "e.npy", x)
    np.save(tmp_path / "l.npy", labels)
    return tmp_path / "e.npy", tmp_path / "l.npy", x, labels


def run(*args: object) -> object:
    return CliRunner().invoke(main, ["mine", *map(str, args)])


def read_csv(path: Path) -> np.ndarray:
    assert path.read_text().splitlines()[0] == "anchor,positive,negative,is_random"
    return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64)


def test_mine_writes_the_miners_triplets(tmp_path: Path) -> None:
    e, lab, x, labels = saved_set(tmp_path)
    result = run("--embeddings", e, "--labels", lab, "--kappa", 1.5, "--k", 50, "--out", tmp_path / "t.csv")
    assert result.exit_code == 0, result.output
    table = read_csv(tmp_path / "t.csv")
    want = SmartMiner(kappa=1.5, k=50).mine(x, labels, np.arange(len(labels)), np.random.default_rng(0))
    assert np.array_equal(table, np.stack([want.anchors, want.positives, want.negatives, want.is_random], 1))
    stats = json.loads(result.output)
    assert stats["kappa"] == 1.5 and stats["n_triplets"] == len(labels)
    mined = table[table[:, 3] == 0]
    d = lambda i, j: ((x[i] - x[j]) ** 2).sum(1)  # noqa: E731
    assert len(mined) > 100 and (d(mined[:, 0], mined[:, 2]) < d(mined[:, 0], mined[:, 1])).all()


def test_controller_state_in_and_out(tmp_path: Path) -> None:
    e, lab, _, _ = saved_set(tmp_path)
    state = tmp_path / "controller.json"
    first = run("--embeddings", e, "--labels", lab, "--kappa", 8, "--controller", state, "--out", tmp_path / "1.csv")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["kappa"] == 8.0 and json.loads(state.read_text())["history"] == []
    second = run("--embeddings", e, "--labels", lab, "--controller", state, "--error", 0.1,
                 "--controller-out", tmp_path / "next.json", "--out", tmp_path / "2.csv")
    assert second.exit_code == 0, second.output
    after = json.loads((tmp_path / "next.json").read_text())
    assert after["history"][-1]["error"] == 0.1 and after["history"][-1]["kappa"] == 8.0
    assert json.loads(second.output)["kappa"] == after["kappa"] != 8.0
    assert json.loads(state.read_text())["history"] == []  # --controller-out left the input alone


@pytest.mark.parametrize(
    "change, message",
    [
        ("rows", "l.npy: 199 labels for the 200 rows of .*e.npy"),
        ("nan", "e.npy: 1 rows hold NaN or inf \\(first: \\[7\\]\\)"),
        ("lone", "l.npy: 2 classes have a single member"),
        ("float_labels", "l.npy: expected a 1-D array of integer labels"),
        ("one_class", "l.npy: a single class"),
        ("error_alone", "--error is the training error for the controller"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, change: str, message: str) -> None:
    e, lab, x, labels = saved_set(tmp_path)
    extra: list[object] = []
    if change == "rows":
        np.save(lab, labels[:-1])
    elif change == "nan":
        x[7, 2] = np.nan
        np.save(e, x)
    elif change == "lone":
        labels[[0, 50]] = [100, 101]
        np.save(lab, labels)
    elif change == "float_labels":
        np.save(lab, labels.astype(np.float32))
    elif change == "one_class":
        np.save(lab, np.zeros_like(labels))
    else:
        extra = ["--error", 0.5]
    result = run("--embeddings", e, "--labels", lab, "--out", tmp_path / "t.csv", *extra)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "t.csv").exists()


def test_missing_file_is_named(tmp_path: Path) -> None:
    result = run("--embeddings", tmp_path / "none.npy", "--labels", tmp_path / "l.npy", "--out", tmp_path / "t.csv")
    assert result.exit_code == 2 and "none.npy: no such file" in result.output
