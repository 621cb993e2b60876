"""The paper's figures (PAPER.md section 9) from the run logs: DataFrames in, matplotlib Figures out.

A figure whose inputs are missing raises :class:`MissingInputs`; the report skips it with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from smartmining import atomic  # noqa: E402
from smartmining.methods import METHODS  # noqa: E402
from smartmining.report.curves import mean_curve, metric_label  # noqa: E402
from smartmining.report.stats import mean_interval  # noqa: E402
from smartmining.runs import sweep_point  # noqa: E402

# One colour per method in every figure.
METHOD_COLOURS = dict(zip(METHODS, sns.color_palette("tab10", len(METHODS))))
TIME_PARTS = {"t_embed": "re-embed", "t_index": "index", "t_mine": "mine", "t_train": "train", "t_eval": "evaluate"}
RECALLS = ["recall@1", "recall@2", "recall@4", "recall@8"]
FORMATS = ("png", "pdf")
TSNE_ITERATIONS = 500  # enough for a stable picture; sklearn's default 1000 doubles the report's slowest step


class MissingInputs(Exception):
    """The logs lack what a figure needs (no sweep, no adaptive run, ...); the message says what."""


def apply_style() -> None:
    """The report's one style; DejaVu Sans draws kappa, Delta and the plus-minus sign."""
    sns.set_theme(context="paper", style="whitegrid", font="DejaVu Sans",
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight", "axes.titlesize": 10})


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem``.png and ``stem``.pdf atomically; close the figure."""
    out = []
    try:
        for fmt in FORMATS:
            target = Path(f"{stem}.{fmt}")
            with atomic.atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt)
            out.append(target)
    finally:
        plt.close(fig)
    return out


def _epoch_axis(*axes: plt.Axes) -> None:
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _legend_below(ax: plt.Axes) -> None:
    """A legend under the panel, where it hides no curve."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)


def _runs_of(curves: pd.DataFrame, dataset: str, names: list[str]) -> list[str]:
    have = set(curves.loc[curves["dataset"] == dataset, "run"])
    return [n for n in names if n in have]


def fig_recall_curves(curves: pd.DataFrame, dataset: str, methods: list[str], metric: str) -> Figure:
    """Fig. 4 and the equal-compute view: ``metric`` (validation R@1) per epoch (band: min-max over seeds),
    against cumulative compute passes and against cumulative training seconds (means over seeds): the anytime view."""
    present = _runs_of(curves, dataset, methods)
    if not present:
        raise MissingInputs(f"no epochs.csv of any method for {dataset}")
    fig, (ax_e, ax_p, ax_t) = plt.subplots(1, 3, figsize=(14, 3.8), sharey=True)
    label = metric_label(metric)
    for run in present:
        mc = mean_curve(curves, dataset, run, metric).dropna(subset=["mean"])
        colour = METHOD_COLOURS.get(run)
        ax_e.plot(mc["epoch"], 100 * mc["mean"], marker="o", ms=3, color=colour, label=run)
        ax_e.fill_between(mc["epoch"], 100 * mc["min"], 100 * mc["max"], color=colour, alpha=0.2, lw=0)
        if mc["passes"].notna().any():
            ax_p.plot(mc["passes"], 100 * mc["mean"], marker="o", ms=3, color=colour, label=run)
        if mc["seconds"].notna().any():
            ax_t.plot(mc["seconds"], 100 * mc["mean"], marker="o", ms=3, color=colour, label=run)
    ax_e.set(xlabel="epoch", ylabel=f"{label} (%)", title=f"{dataset}: {label} per epoch (band: min-max over seeds)")
    ax_p.set(xlabel="cumulative compute passes (re-embedding at its cost; mean over seeds)",
             title="anytime, per compute: training-pass equivalents")
    ax_t.set(xlabel="cumulative training seconds (mean over seeds)", title="anytime, per compute: wall-clock seconds")
    if not ax_p.lines:
        ax_p.text(0.5, 0.5, "no compute_passes or image_passes column in the logs", ha="center", transform=ax_p.transAxes)
    ax_t.legend(fontsize=7, loc="lower right")
    _epoch_axis(ax_e)
    return fig


ALL = "*"  # every method of a sweep (a sweep may name several: runs.sweep_run_name)


def _in_sweep(p: Any, sweep: str, method: str | None) -> bool:
    """``method``: ALL, None (the sweep's first method: no suffix) or a method named in the run's suffix."""
    return p is not None and p.sweep == sweep and (method == ALL or p.method == method)


def sweep_methods_in(names: Any, sweep: str) -> list[str | None]:
    """The method suffixes of one sweep's run names (None first: the sweep's first method)."""
    found = {p.method for p in map(sweep_point, names) if p is not None and p.sweep == sweep}
    return sorted(found, key=lambda m: (m is not None, m or ""))


def sweep_finals(finals: pd.DataFrame, dataset: str, sweep: str, method: str | None = ALL) -> pd.DataFrame:
    """Final metrics of one sweep's runs (of one of its methods: see _in_sweep): x (the swept value), metric,
    mean, std, n_seeds, ci_lo, ci_hi."""
    cols = ["x", "metric", "mean", "std", "n_seeds", "ci_lo", "ci_hi"]
    sel = finals[finals["dataset"] == dataset]
    points = sel["run"].map(sweep_point)
    keep = [_in_sweep(p, sweep, method) for p in points]
    sel = sel[keep].assign(x=[p.value for p, k in zip(points, keep) if k])
    rows = []
    for (x, metric), d in sel.groupby(["x", "metric"]):
        iv = mean_interval(d["value"].tolist())
        rows.append((x, metric, iv.mean, iv.std, iv.n, iv.lo, iv.hi))
    return pd.DataFrame(rows, columns=cols)


def sweep_runs(curves: pd.DataFrame, dataset: str, sweep: str, method: str | None = ALL) -> list[tuple[float, str]]:
    """(swept value, run name) of one sweep's runs (of one of its methods) present in the logs, sorted by value."""
    names = curves.loc[curves["dataset"] == dataset, "run"].unique()
    points = [(sweep_point(n), n) for n in names]
    return sorted((p.value, n) for p, n in points if _in_sweep(p, sweep, method))


def fig_fraction_sweep(curves: pd.DataFrame, dataset: str) -> Figure:
    """Fig. 8: training error, NMI, R@1 and R@8 per epoch, one line per mined fraction."""
    points = sweep_runs(curves, dataset, "fraction")
    if not points:
        raise MissingInputs(f"no mined-fraction-sweep runs for {dataset} (sweeps.mined_fraction.values is empty or not trained)")
    panels = {"train_error": "training error"}
    for name in ("nmi", "recall@1", "recall@8"):  # validation where logged: the test set is not run every epoch
        metric = f"val_{name}" if f"val_{name}" in curves.columns else name
        panels[metric] = f"{metric_label(metric)} (%)"
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.5))
    colours = sns.color_palette("rocket", len(points))
    for (value, run), colour in zip(points, colours):
        for ax, (metric, label) in zip(axes, panels.items()):
            if metric not in curves.columns:
                continue
            mc = mean_curve(curves, dataset, run, metric).dropna(subset=["mean"])
            scale = 1 if metric == "train_error" else 100
            ax.plot(mc["epoch"], scale * mc["mean"], marker="o", ms=3, color=colour, label=f"{100 * value:g}% mined")
            ax.set(xlabel="epoch", ylabel=label)
    axes[0].set_title(f"{dataset}: mined-fraction sweep")
    axes[-1].legend(fontsize=7)
    _epoch_axis(*axes)
    return fig


def fig_tsne(embeddings: np.ndarray, labels: np.ndarray, title: str, *, max_points: int = 2000, seed: int = 0) -> Figure:
    """Fig. 9: 2-D t-SNE of test embeddings (a fixed-seed subsample), coloured by class."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(embeddings)
    if n < 5:
        raise MissingInputs(f"only {n} test embeddings: too few for a t-SNE map")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
    x, y = np.asarray(embeddings[idx], dtype=np.float32), np.asarray(labels[idx])
    perplexity = float(min(30.0, (len(x) - 1) / 3))
    # One thread: OpenMP's spinning threads slow t-SNE tenfold on a busy 2-core machine.
    with threadpool_limits(1):
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=TSNE_ITERATIONS, random_state=seed)
        xy = tsne.fit_transform(x)
    classes, codes = np.unique(y, return_inverse=True)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(xy[:, 0], xy[:, 1], c=codes, cmap="hsv" if len(classes) > 20 else "tab20", s=6 if len(x) > 500 else 16,
               alpha=0.8, lw=0)
    ax.set(xticks=[], yticks=[], title=f"{title} ({len(x)} points, {len(classes)} classes)")
    return fig


def time_split(curves: pd.DataFrame, dataset: str, methods: list[str]) -> pd.DataFrame:
    """Mean seconds per epoch of each part (re-embed, index, mine, train, evaluate, other) per method."""
    sel = curves[(curves["dataset"] == dataset) & curves["run"].isin(methods) & (curves["epoch"] >= 1)]
    parts = [c for c in TIME_PARTS if c in sel.columns]
    if sel.empty or not parts or "t_epoch" not in sel.columns:
        return pd.DataFrame(columns=["method", *TIME_PARTS.values(), "other"])
    means = sel.groupby("run")[parts + ["t_epoch"]].mean().fillna(0.0)
    out = means[parts].rename(columns=TIME_PARTS)
    out["other"] = (means["t_epoch"] - means[parts].sum(axis=1)).clip(lower=0.0)
    order = [m for m in methods if m in out.index]
    return out.loc[order].rename_axis("method").reset_index()


def fig_time_split(split: pd.DataFrame, dataset: str) -> Figure:
    """Stacked bars of the mean seconds per epoch spent in each part, per method."""
    if split.empty:
        raise MissingInputs(f"no timing columns (t_embed ... t_epoch) in the epochs.csv of {dataset}")
    parts = [c for c in split.columns if c != "method"]
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(split) + 2), 3.8))
    bottom = np.zeros(len(split))
    for part, colour in zip(parts, sns.color_palette("Set2", len(parts))):
        ax.bar(split["method"], split[part], bottom=bottom, color=colour, label=part)
        bottom += split[part].to_numpy()
    ax.set(ylabel="seconds per epoch (mean)", title=f"{dataset}: where an epoch's time goes")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig
