"""The controller-tracking table: on target from the second controlled epoch, fallback share after the first."""

from __future__ import annotations

import math

import pandas as pd

from smartmining.report.tracking import tracking_readings, tracking_table


def curves() -> pd.DataFrame:
    rows = []
    # sweep-kappa0-64: warm-up epoch 1, then e = 0.9, 0.55, 0.48 (on target from the 2nd controlled epoch)
    for epoch, e, k, fb in [(0, math.nan, math.nan, math.nan), (1, 0.3, math.nan, 0), (2, 0.9, 4.0, 50),
                            (3, 0.55, 2.0, 10), (4, 0.48, 1.8, 0)]:
        rows.append(("g", "sweep-kappa0-64", 0, epoch, e, k, fb, 100))
    # the full method, seed 1: off target at the third controlled epoch
    for epoch, e, k, fb in [(1, 0.3, math.nan, 0), (2, 0.6, 2.0, 5), (3, 0.5, 1.9, 5), (4, 0.75, 1.5, 5)]:
        rows.append(("g", "smart+global+adaptive", 1, epoch, e, k, fb, 100))
    rows.append(("g", "smart", 0, 2, 0.5, 2.0, 0, 100))  # fixed kappa: not tracked
    return pd.DataFrame(rows, columns=["dataset", "run", "seed", "epoch", "train_error", "kappa", "random_fallbacks", "n_mined"])


def test_tracking_table_judges_each_adaptive_run() -> None:
    table = tracking_table(curves(), "g", target=0.5, tolerance=0.1).set_index("run")
    assert set(table.index) == {"sweep-kappa0-64", "smart+global+adaptive"}
    assert table.loc["sweep-kappa0-64", "on_target"] and not table.loc["smart+global+adaptive", "on_target"]
    assert table.loc["sweep-kappa0-64", "fallback_share"] == 10 / 200  # epochs 3-4
    assert table.loc["sweep-kappa0-64", "kappa_first"] == 4.0
    lines = tracking_readings(table.reset_index(), 0.5, 0.1)
    assert "1 of 2 adaptive runs" in lines[0] and "within 0.1" in lines[0] and "2 of 2 runs" in lines[1]
    tight = tracking_table(curves(), "g", target=0.5, tolerance=0.03).set_index("run")
    assert not tight.loc["sweep-kappa0-64", "on_target"]  # e = 0.55 is off by 0.05
    assert "within 0.03" in tracking_readings(tight.reset_index(), 0.5, 0.03)[0]


def test_both_laws_are_tracked_and_named() -> None:
    cfg = {"controller": {"law": "ours"},
           "sweeps": {"kappa0": {"method": ["smart+global+adaptive", "smart+global+adaptive-paper"], "values": [64, 4],
                                 "seeds": [0]}}}
    extra = curves()
    for run in ("smart+global+adaptive-paper", "sweep-kappa0-4_smart+global+adaptive-paper"):
        extra = pd.concat([extra, curves().query("run == 'smart+global+adaptive'").assign(run=run)])
    table = tracking_table(extra, "g", 0.5, 0.1, cfg).set_index("run")
    assert table.loc["smart+global+adaptive-paper", "law"] == "paper" and table.loc["sweep-kappa0-4_smart+global+adaptive-paper", "law"] == "paper"
    assert table.loc["smart+global+adaptive", "law"] == "ours"
    line = tracking_readings(table.reset_index(), 0.5, 0.1)[0]
    assert "0 of 2 with the paper's law" in line and "1 of 2 with our law" in line
