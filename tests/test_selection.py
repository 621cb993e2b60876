"""The select stage chooses on validation classes only: test-class numbers cannot move a choice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from smartmining.config import load_params
from smartmining.errors import SmartMiningError
from smartmining.runs import Run, selection_runs
from smartmining.selection import select

ROOT = Path(__file__).resolve().parents[1]


def write_runs(runs: Path, cfg: dict, val: dict[str, float], test: dict[str, float], with_val: bool = True) -> None:
    """Fake epochs.csv of the selection runs; ``val``/``test`` map run names to last-epoch R@1."""
    for run in selection_runs(cfg, "glyphs"):
        rows = [{"epoch": e, "recall@1": test[run.name] if e == 2 else float("nan"),
                 **({"val_recall@1": val[run.name] - 0.1 * (2 - e)} if with_val else {})} for e in (0, 1, 2)]
        folder = runs / run.folder
        folder.mkdir(parents=True)
        pd.DataFrame(rows).to_csv(folder / "epochs.csv", index=False)


def test_the_choice_follows_validation_even_where_test_numbers_disagree(tmp_path: Path) -> None:
    cfg = load_params(ROOT / "params.yaml", "cpu")
    kappas = [f"{v:g}" for v in cfg["sweeps"]["kappa"]["values"]]
    fractions = [f"{v:g}" for v in cfg["sweeps"]["mined_fraction"]["values"]]
    val = {**{f"sweep-kappa-{k}": 0.5 + 0.01 * i for i, k in enumerate(kappas)},
           **{f"sweep-fraction-{f}": 0.6 - 0.01 * i for i, f in enumerate(fractions)}}
    test = {k: 1.0 - v for k, v in val.items()}  # the test classes would choose the opposite
    write_runs(tmp_path, cfg, val, test)
    chosen = select(cfg, "glyphs", tmp_path, "recall@1")
    assert chosen["kappa"]["chosen"] == float(kappas[-1]) and chosen["mined_fraction"]["chosen"] == float(fractions[0])
    assert chosen["kappa"]["metric"] == "val_recall@1"
    assert chosen["kappa"]["values"][kappas[-1]] == pytest.approx(val[f"sweep-kappa-{kappas[-1]}"])  # the last epoch


def test_without_validation_classes_the_stage_stops_naming_the_option(tmp_path: Path) -> None:
    cfg = load_params(ROOT / "params.yaml", "cpu")
    values = {r.name: 0.5 for r in selection_runs(cfg, "glyphs")}
    write_runs(tmp_path, cfg, values, values, with_val=False)
    with pytest.raises(SmartMiningError, match="val_classes"):
        select(cfg, "glyphs", tmp_path, "recall@1")


def test_selection_runs_are_the_kappa_and_fraction_sweeps() -> None:
    cfg = load_params(ROOT / "params.yaml", "cpu")
    names = {r.name for r in selection_runs(cfg, "glyphs")}
    assert names == {f"sweep-kappa-{v:g}" for v in cfg["sweeps"]["kappa"]["values"]} | {
        f"sweep-fraction-{v:g}" for v in cfg["sweeps"]["mined_fraction"]["values"]}
    assert all(isinstance(r, Run) for r in selection_runs(cfg, "glyphs"))
