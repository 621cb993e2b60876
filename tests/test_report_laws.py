"""Both kappa laws in the report's controller figures: Fig. 3 (fixed vs each adaptive law) and Fig. 7 (an
initial-kappa sweep per law)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from report_logs import epoch_rows

from smartmining.report.figures import MissingInputs
from smartmining.report.figures_kappa import controller_pair, fig_controller, fig_kappa_sweeps

RUNS = ("smart+global", "smart+global+adaptive", "smart+global+adaptive-paper", "sweep-kappa0-4",
        "sweep-kappa0-4_smart+global+adaptive-paper", "sweep-kappa0-16_smart+global+adaptive-paper")


def curves(runs=RUNS) -> pd.DataFrame:
    return pd.concat([epoch_rows("smart+global" if run == "smart+global" else "smart+global+adaptive", 0)
                      .assign(dataset="g", run=run, seed=0) for run in runs], ignore_index=True)


def finals(runs=RUNS) -> pd.DataFrame:
    rows = [{"dataset": "g", "run": run, "seed": 0, "metric": m, "value": 0.4} for run in runs
            for m in ("recall@1", "recall@2", "recall@4", "recall@8")]
    return pd.DataFrame(rows)


def labels(fig) -> set[str]:
    return {line.get_label() for ax in fig.axes for line in ax.lines}


def test_fig3_draws_the_fixed_run_and_each_law() -> None:
    adaptive, fixed = controller_pair(curves(), "g")
    assert adaptive == ["smart+global+adaptive", "smart+global+adaptive-paper"] and fixed == "smart+global"
    fig = fig_controller(curves(), "g", 0.5)
    names = labels(fig)
    for run in ("smart+global", "smart+global+adaptive", "smart+global+adaptive-paper"):
        assert f"{run}: κ" in names and f"{run}: training error e" in names
    plt.close(fig)
    with pytest.raises(MissingInputs):
        controller_pair(curves(("smart+global",)), "g")


def test_fig7_has_an_initial_kappa_panel_per_law() -> None:
    fig = fig_kappa_sweeps(finals(), curves(), "g", ["smart+global+adaptive", "smart+global+adaptive-paper"])
    titles = [ax.get_title() for ax in fig.axes]
    assert "smart+global+adaptive: initial-κ sweep" in titles and "smart+global+adaptive-paper: initial-κ sweep" in titles
    trajectories = fig.axes[-1]
    styles = {line.get_label(): line.get_linestyle() for line in trajectories.lines}
    assert styles == {"smart+global+adaptive, κ0 = 4": "-", "smart+global+adaptive-paper, κ0 = 4": "--",
                      "smart+global+adaptive-paper, κ0 = 16": "--"}
    plt.close(fig)
    only_ours = RUNS[:4]
    fig = fig_kappa_sweeps(finals(only_ours), curves(only_ours), "g")
    assert len(fig.axes) == 3  # fixed, our law's sweep, trajectories
    plt.close(fig)
