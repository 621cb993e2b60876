"""The figures about kappa (PAPER.md section 9): Fig. 3 (errors and kappa per epoch, fixed vs adaptive)
and Fig. 7 (both sweeps: fixed kappa, and the adaptive controller's initial kappa with its trajectories).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from smartmining.methods import METHODS
from smartmining.report.convergence import ADAPTIVE_PAIRS
from smartmining.report.curves import mean_curve, metric_label, validation_metric
from smartmining.report.figures import (METHOD_COLOURS, RECALLS, MissingInputs, _epoch_axis, _legend_below,
                                        sweep_finals, sweep_methods_in, sweep_runs)

# The error curves of Fig. 3: log column -> (label, line style).
ERRORS = {"train_error": ("training error e", "-"), "e_mined": ("e over mined triplets", "--"),
          "e_random": ("e over random triplets", ":")}


def controller_pair(curves: pd.DataFrame, dataset: str) -> tuple[list[str], str | None]:
    """The adaptive methods that ran (every law, e.g. ours and the paper's) and their fixed-kappa counterpart
    (None where that did not run)."""
    have = set(curves.loc[curves["dataset"] == dataset, "run"])
    for adaptive, fixed in ADAPTIVE_PAIRS:
        laws = [m for m, spec in METHODS.items() if spec.adaptive and spec.miner == "smart"
                and spec.use_global == METHODS[adaptive].use_global and m in have]
        if laws:
            return laws, fixed if fixed in have else None
    raise MissingInputs(f"no adaptive method (one of {[a for a, _ in ADAPTIVE_PAIRS]}) among the runs of {dataset}")


def fig_controller(curves: pd.DataFrame, dataset: str, target_error: float) -> Figure:
    """Fig. 3: training error e (all, mined, random triplets) and validation error 1 - R@1 per epoch; kappa
    per epoch with the admissible range [kappa_lo, kappa_hi] measured from the data; fixed vs adaptive."""
    adaptive, fixed = controller_pair(curves, dataset)
    val = validation_metric(curves)
    fig, (ax_err, ax_k) = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw={"wspace": 0.35})
    for run in ([fixed] if fixed else []) + adaptive:
        colour = METHOD_COLOURS.get(run)
        for column, (label, style) in ERRORS.items():
            if column in curves.columns:
                mc = mean_curve(curves, dataset, run, column).dropna(subset=["mean"])
                ax_err.plot(mc["epoch"], mc["mean"], ls=style, marker="o", ms=2.5, color=colour, label=f"{run}: {label}")
        r1 = mean_curve(curves, dataset, run, val).dropna(subset=["mean"])
        ax_err.plot(r1["epoch"], 1 - r1["mean"], ls="-.", color=colour, label=f"{run}: {metric_label(val)} error (1 - R@1)")
        if "kappa" in curves.columns:
            kappa = mean_curve(curves, dataset, run, "kappa").dropna(subset=["mean"])
            ax_k.plot(kappa["epoch"], kappa["mean"], marker="o", ms=3, color=colour, label=f"{run}: κ")
        if {"kappa_lo", "kappa_hi"} <= set(curves.columns):
            lo = mean_curve(curves, dataset, run, "kappa_lo").set_index("epoch")["mean"]
            hi = mean_curve(curves, dataset, run, "kappa_hi").set_index("epoch")["mean"]
            band = pd.DataFrame({"lo": lo, "hi": hi}).dropna()
            ax_k.fill_between(band.index, band["lo"], band["hi"], color=colour, alpha=0.15, lw=0,
                              label=f"{run}: admissible κ range")
    ax_err.axhline(target_error, color="black", lw=1, ls=":", label=f"target error {target_error:g}")
    ax_err.set(xlabel="epoch", ylabel="error", title=f"{dataset}: errors, fixed vs adaptive κ (mean over seeds)")
    _legend_below(ax_err)
    if any(np.nanmin(line.get_ydata()) > 0 for line in ax_k.lines if len(line.get_ydata())):
        ax_k.set_yscale("log", base=2)
    ax_k.set(xlabel="epoch", ylabel="κ", title="κ per epoch and its admissible range")
    if ax_k.lines or ax_k.collections:
        ax_k.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1, frameon=False)
    _epoch_axis(ax_err, ax_k)
    return fig


def _sweep_panel(ax: plt.Axes, sf: pd.DataFrame, xlabel: str, title: str) -> None:
    sf = sf[sf["metric"].isin(RECALLS)]
    if sf.empty:
        ax.text(0.5, 0.5, f"no runs of this sweep\n({title})", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel=xlabel, title=title)
        return
    for metric, colour in zip(RECALLS, sns.color_palette("viridis", len(RECALLS))):
        d = sf[sf["metric"] == metric].sort_values("x")
        err = np.vstack([d["mean"] - d["ci_lo"], d["ci_hi"] - d["mean"]]) * 100
        ax.errorbar(d["x"], 100 * d["mean"], yerr=np.nan_to_num(err), marker="o", ms=4, capsize=3, color=colour,
                    label=metric.replace("recall", "R"))
    ax.set_xscale("log", base=2)
    ax.set(xlabel=xlabel, ylabel="test Recall@K at the last epoch (%)", title=title)
    ax.legend(fontsize=7)


def fig_kappa_sweeps(finals: pd.DataFrame, curves: pd.DataFrame, dataset: str,
                     kappa0_methods: list[str] | None = None) -> Figure:
    """Fig. 7: test R@K at the last epoch against the fixed kappa (smart+global) and against the adaptive
    controller's initial kappa0, one panel per method the kappa0 sweep names (one per law: ours and the
    paper's), and each kappa0 run's kappa trajectory (dashed: a method that forces the paper's law).
    ``kappa0_methods``: the profile's sweeps.kappa0 methods, to name the panels. Error bars: 95% intervals
    where a point has two or more seeds."""
    fixed = sweep_finals(finals, dataset, "kappa")
    variants = sweep_methods_in(finals.loc[finals["dataset"] == dataset, "run"], "kappa0") or [None]
    named = {v: v or (kappa0_methods[0] if kappa0_methods else "the sweep's first method") for v in variants}
    initial = {v: sweep_finals(finals, dataset, "kappa0", v) for v in variants}
    if fixed.empty and all(t.empty for t in initial.values()):
        raise MissingInputs(f"no κ-sweep runs (sweep-kappa-*, sweep-kappa0-*) for {dataset}")
    fig, axes = plt.subplots(1, 2 + len(variants), figsize=(5 * (2 + len(variants)), 3.9))
    _sweep_panel(axes[0], fixed, "κ (fixed)", f"{dataset}: fixed-κ sweep")
    for ax, v in zip(axes[1:], variants):
        _sweep_panel(ax, initial[v], "κ0 (initial κ of the controller)", f"{named[v]}: initial-κ sweep")
    ax_t = axes[-1]
    for v in variants:
        spec = METHODS.get(named[v])
        style = "--" if spec is not None and spec.law == "paper" else "-"
        points = sweep_runs(curves, dataset, "kappa0", v)
        for (value, run), colour in zip(points, sns.color_palette("rocket", max(1, len(points)))):
            if "kappa" in curves.columns:
                mc = mean_curve(curves, dataset, run, "kappa").dropna(subset=["mean"])
                ax_t.plot(mc["epoch"], mc["mean"], ls=style, marker="o", ms=3, color=colour,
                          label=f"{named[v]}, κ0 = {value:g}")
    if ax_t.lines:
        ax_t.set_yscale("log", base=2)
        ax_t.legend(fontsize=7)
    else:
        ax_t.text(0.5, 0.5, "no κ trajectories of κ0-sweep runs", ha="center", va="center", transform=ax_t.transAxes)
    ax_t.set(xlabel="epoch", ylabel="κ", title="adaptive: κ per epoch from each κ0")
    _epoch_axis(ax_t)
    return fig
