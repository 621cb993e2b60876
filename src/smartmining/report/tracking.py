"""Whether the adaptive controller did its job (issue: on target within two epochs from any kappa0).

Per adaptive run (either law, controller_laws.py): the controlled epochs are those that logged a kappa; the
run is "on target" when its training error lies within ``tolerance`` (the profile's ``controller.tolerance``)
of the target from the second controlled epoch on, and its random fallbacks are counted as a share of the
mined triplets after the first controlled epoch.
"""

from __future__ import annotations

import math

import pandas as pd

from typing import Any

from smartmining.methods import METHODS
from smartmining.runs import SWEEPS, run_method, sweep_point


def adaptive_runs(curves: pd.DataFrame, dataset: str) -> list[str]:
    names = curves.loc[curves["dataset"] == dataset, "run"].unique()
    out = []
    for name in names:
        point = sweep_point(name)
        if (point is None and name in METHODS and METHODS[name].adaptive) or (
                point and SWEEPS[point.sweep].parameter == "controller.kappa0"):
            out.append(name)
    return sorted(out, key=lambda n: (sweep_point(n) is not None, sweep_point(n).value if sweep_point(n) else 0, n))


def run_law(cfg: dict[str, Any], run: str) -> str:
    """The kappa law a run of the profile steered with (its method's, else controller.law)."""
    return run_method(cfg, run).controller_law(cfg["controller"].get("law", "ours"))


def tracking_table(curves: pd.DataFrame, dataset: str, target: float, tolerance: float,
                   cfg: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per adaptive run and seed: its law (with ``cfg``), kappa0, the error per controlled epoch, the
    on-target verdict at ``tolerance``, fallbacks."""
    rows = []
    for run in adaptive_runs(curves, dataset):
        for seed, df in curves[(curves["dataset"] == dataset) & (curves["run"] == run)].groupby("seed"):
            if "kappa" not in df:
                continue
            controlled = df[df["kappa"].notna() & (df["epoch"] > 0)].sort_values("epoch")
            if controlled.empty:
                continue
            errors = controlled["train_error"].to_numpy()
            later = controlled.iloc[1:]
            mined = later["n_mined"].sum() if "n_mined" in later else math.nan
            fallbacks = later["random_fallbacks"].sum() if "random_fallbacks" in later else math.nan
            rows.append({
                "run": run, "law": run_law(cfg, run) if cfg else "", "seed": int(seed), "kappa_first": float(controlled["kappa"].iloc[0]),
                "errors": " ".join(f"{e:.2f}" for e in errors),
                "on_target": bool(len(errors) > 1 and (abs(errors[1:] - target) <= tolerance).all()),
                "fallback_share": float(fallbacks / mined) if mined and mined > 0 else math.nan,
                "kappa_last": float(controlled["kappa"].iloc[-1]),
            })
    return pd.DataFrame(rows)


def tracking_readings(table: pd.DataFrame, target: float, tolerance: float) -> list[str]:
    if table.empty:
        return ["No adaptive run in the logs: the controller's tracking is not measured."]
    hit = table["on_target"].sum()
    low = (table["fallback_share"] < 0.2).sum()
    return [
        f"Controller on target: {hit} of {len(table)} adaptive runs kept the training error within {tolerance:g} "
        f"of the target {target:g} (`controller.tolerance`) in every controlled epoch from the second on"
        + _per_law(table) + ".",
        f"Random fallbacks after the first controlled epoch: under 20% of the mined triplets in {low} of "
        f"{len(table)} runs (largest share {100 * table['fallback_share'].max():.1f}%).",
    ]


def _per_law(table: pd.DataFrame) -> str:
    if "law" not in table or table["law"].nunique() < 2:
        return ""
    names = {"ours": "our law", "paper": "the paper's law"}
    parts = [f"{int(d['on_target'].sum())} of {len(d)} with {names.get(law, law)}" for law, d in table.groupby("law")]
    return " (" + "; ".join(parts) + ")"
