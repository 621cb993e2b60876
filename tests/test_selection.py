"""The select stage chooses each method's values on validation classes only: test numbers cannot move a choice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from smartmining.config import load_params
from smartmining.errors import SmartMiningError
from smartmining.runs import Run, selection_runs
from smartmining.selection import select
from smartmining.tuning import design, tuning_run_name

ROOT = Path(__file__).resolve().parents[1]


def cpu() -> dict:
    return load_params(ROOT / "params.yaml", "cpu")


def write_runs(runs: Path, cfg: dict, val: dict[str, float], test: dict[str, float], with_val: bool = True) -> None:
    """Fake epochs.csv of the tuning runs; ``val``/``test`` map run names to last-epoch R@1."""
    for run in selection_runs(cfg, "glyphs"):
        rows = [{"epoch": e, "recall@1": test[run.name] if e == 2 else float("nan"),
                 **({"val_recall@1": val[run.name] - 0.1 * (2 - e)} if with_val else {})} for e in (0, 1, 2)]
        folder = runs / run.folder
        folder.mkdir(parents=True)
        pd.DataFrame(rows).to_csv(folder / "epochs.csv", index=False)


def test_each_method_takes_its_best_validation_point_even_where_test_numbers_disagree(tmp_path: Path) -> None:
    cfg = cpu()
    names = [r.name for r in selection_runs(cfg, "glyphs")]
    val = {name: 0.5 + 0.01 * (hash(name) % 17) for name in names}
    test = {k: 1.0 - v for k, v in val.items()}  # the test classes would choose the opposite
    write_runs(tmp_path, cfg, val, test)
    chosen = select(cfg, "glyphs", tmp_path, "recall@1")
    assert chosen["metric"] == "val_recall@1" and chosen["seeds"] == cfg["tuning"]["seeds"]
    for method in cfg["methods"]:
        points = design(cfg, method)
        scores = [val[tuning_run_name(method, i)] for i in range(len(points))]
        best = max(range(len(points)), key=lambda i: (scores[i], -i))  # ties: the first point
        entry = chosen["methods"][method]
        assert entry["chosen"] == points[best] and entry["chosen_run"] == tuning_run_name(method, best)
        assert [t["score"] for t in entry["tried"]] == pytest.approx(scores)  # the last epoch's value
        assert entry["n_runs"] == cfg["tuning"]["runs_per_method"]  # equal tuning budget


def test_without_validation_classes_the_stage_stops_naming_the_option(tmp_path: Path) -> None:
    cfg = cpu()
    values = {r.name: 0.5 for r in selection_runs(cfg, "glyphs")}
    write_runs(tmp_path, cfg, values, values, with_val=False)
    with pytest.raises(SmartMiningError, match="val_classes"):
        select(cfg, "glyphs", tmp_path, "recall@1")


def test_selection_runs_are_every_methods_tuning_runs_at_the_tuning_seeds() -> None:
    cfg = cpu()
    runs = selection_runs(cfg, "glyphs")
    assert all(isinstance(r, Run) for r in runs)
    per_method = {m: sum(r.name.endswith(f"-{m}") for r in runs) for m in cfg["methods"]}
    assert set(per_method.values()) == {cfg["tuning"]["runs_per_method"] * len(cfg["tuning"]["seeds"])}
    assert {r.seed for r in runs} == set(cfg["tuning"]["seeds"]) and not {r.seed for r in runs} & set(cfg["seeds"])
