"""One dataset's section of REPORT.md: the verdict first (primary table, readings), then the evidence
(equal compute, regime, setup, convergence, sweeps, published numbers, figures)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from smartmining import atomic
from smartmining.runs import Run, sweep_spec
from smartmining.report import (compute, convergence, curves as curves_mod, figures, figures_kappa, galleries,
                                readings, regime, runs, setup, tables, tracking)
from smartmining.report.doc import ReportDoc
from smartmining.report.stats import Interval, format_interval

# The "full" method whose embeddings and triplets are drawn: the first of these that ran.
FULL_METHOD_PREFERENCE = ("smart+global+adaptive", "smart+global", "smart+adaptive", "smart", "hard")
SWEEPS = (("kappa", "κ (fixed)", "kappa"), ("kappa0", "κ0 (adaptive, initial)", "kappa0"),
          ("fraction", "mined fraction", "mined_fraction"))


def full_method(names: list[str]) -> str | None:
    for m in FULL_METHOD_PREFERENCE:
        if m in names:
            return m
    return names[0] if names else None


def _iv(row: Any, prefix: str, scale: float = 100.0, digits: int = 1) -> str:
    return format_interval(Interval(row[f"{prefix}_mean"], math.nan, 0, row[f"{prefix}_lo"], row[f"{prefix}_hi"]),
                           scale, digits)


def pct(v: float) -> str:
    return "" if math.isnan(v) else f"{100 * v:.1f}"


def last_val(curves: pd.DataFrame, dataset: str, run: str, metric: str) -> float:
    mc = curves_mod.mean_curve(curves, dataset, run, metric).dropna(subset=["mean"])
    return float(mc["mean"].iloc[-1]) if len(mc) else math.nan


def sweep_table(sweep: pd.DataFrame, label: str, val: dict[float, float]) -> pd.DataFrame:
    """Per swept value: seeds, validation R@1 at the last epoch, test metrics mean [95% interval] (%)."""
    rows = []
    for x, d in sweep.groupby("x"):
        stats = d.set_index("metric")
        row: dict[str, Any] = {label: f"{x:g}", "Seeds": str(int(stats["n_seeds"].max())),
                               "val R@1 (last epoch)": f"{100 * val.get(x, math.nan):.1f}"}
        for metric, (head, _) in tables.TABLE_METRICS.items():
            if metric in stats.index:
                s = stats.loc[metric]
                row[f"test {head}"] = format_interval(Interval(s["mean"], s["std"], int(s["n_seeds"]), s["ci_lo"], s["ci_hi"]), 100)
        rows.append(row)
    return pd.DataFrame(rows)


def last_train_errors(curves: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Mean training error at the last epoch per mined fraction of the sweep."""
    rows = []
    for value, run in figures.sweep_runs(curves, dataset, "fraction"):
        mc = curves_mod.mean_curve(curves, dataset, run, "train_error").dropna(subset=["mean"])
        if len(mc):
            rows.append({"x": value, "train_error": float(mc["mean"].iloc[-1])})
    return pd.DataFrame(rows, columns=["x", "train_error"])


def verdict_section(doc: ReportDoc, dataset: str, methods: list[str], ctx: dict[str, Any]) -> list[str]:
    """The primary table and the readings (claims, then each exploratory family); returns the readings' Markdown
    (also written to readings_<dataset>.md)."""
    out, summary, curves, val = doc.out_dir, ctx["summary"], ctx["curves"], ctx["val_metric"]
    found, alpha = ctx["readings"], ctx["report_settings"].alpha
    numeric = tables.primary_table(summary, dataset, methods)
    metrics = tables.table_metrics(summary, dataset)
    doc.add("### Results at the equal triplet budget", "")
    doc.table(out / "tables" / f"primary_{dataset}", tables.display_primary(numeric, metrics),
              f"{dataset}: test metrics (%), mean [95% t-interval of the mean] over seeds", numeric)
    doc.add("Test classes, final epoch. An interval needs two seeds; a single seed shows the mean alone.", "")
    lines = readings.claims_lines(found, dataset, alpha) + readings.exploratory_lines(found, dataset, methods, alpha)
    check = convergence.plateau_check(curves, dataset, methods, val)
    lines += ["**Converged?**", ""] + [f"- {s}" for s in readings.plateau(check, val)] + [""]
    doc.add("### Readings (generated from the numbers)", "", *lines)
    path = out / f"readings_{dataset}.md"
    atomic.write_text(path, "\n".join(lines).rstrip() + "\n")
    doc.written.append(path)
    ctx.setdefault("plateau", {})[dataset] = check
    return lines


def compute_section(doc: ReportDoc, dataset: str, methods: list[str], ctx: dict[str, Any]) -> None:
    out, curves, val = doc.out_dir, ctx["curves"], ctx["val_metric"]
    doc.add("### Equal-compute view (anytime)", "")
    table = compute.compute_table(curves, dataset, methods, val)
    if not table.empty:
        shown = pd.DataFrame({"Method": table["method"], "Seeds": table["n_seeds"].astype(str),
                              "Image passes / epoch": [f"{v:,.0f}" for v in table["passes_per_epoch"]],
                              "Compute passes / epoch": [f"{v:,.0f}" for v in table["compute_per_epoch"]],
                              "Training s / epoch": [f"{v:.2f}" for v in table["seconds_per_epoch"]],
                              "Final test R@1": [format_interval(tables.summary_interval(ctx["summary"], dataset, m, "recall@1")
                                                                 or Interval(math.nan, math.nan, 0, math.nan, math.nan), 100)
                                                 for m in table["method"]]})
        for axis, what in compute.BUDGET_AXES.items():
            budget = table[f"{axis}_budget"].iloc[0]
            if not math.isnan(budget):
                shown[f"{curves_mod.metric_label(val)} at {readings.amount(budget)} {what}"] = [_iv(r, axis) for _, r in table.iterrows()]
        doc.table(out / "tables" / f"compute_{dataset}", shown, f"{dataset}: compute per epoch and results at equal compute", table)
        doc.add("Training seconds exclude the evaluation (`t_epoch − t_eval`); the equal budget is the least any "
                "seed of any method spent in all; values there are interpolated per seed, then mean [95% interval]. "
                "Compute passes count a re-embedded image (eval mode, no gradient) at "
                f"{ctx.get('reembed_cost') or '`train.reembed_cost`'} of a training pass (measured: "
                "benchmarks/bench_pass_cost.py). **Anytime**: each method runs its own schedule and is read where it "
                "crosses the budget, so the costlier methods are stopped early, mid-schedule (learning rate not yet "
                "decayed); no run was retrained with its schedule scaled to the budget.", "")
    doc.figure(out / "figures" / f"fig4_recall_{dataset}", "Fig. 4 / equal compute (anytime): validation R@1 per "
               "epoch, per compute pass and per second", lambda: figures.fig_recall_curves(curves, dataset, methods, val))
    regime = compute.regime_table(curves, dataset, methods)
    doc.add("### The regime: random triplets with zero loss", "")
    if regime.empty:
        doc.add("*No `random_zero_loss` column in the logs: the regime cannot be shown.*", "")
        return
    shown = pd.DataFrame({"Method": regime["method"], "Seeds": regime["n_seeds"].astype(str),
                          "Before training": [f"{100 * v:.1f}" if not math.isnan(v) else "" for v in regime["epoch0"]],
                          "After the first epoch": [f"{100 * v:.1f}" for v in regime["first"]],
                          "After the last epoch": [f"{100 * v:.1f}" for v in regime["last"]]})
    doc.table(out / "tables" / f"regime_{dataset}", shown, f"{dataset}: share (%) of a fixed probe of random training "
              "triplets with zero loss, mean over seeds", regime)
    doc.add("The paper's regime (a pretrained network) has most random triplets at zero loss early on.", "")


def convergence_section(doc: ReportDoc, cfg: dict[str, Any], dataset: str, methods: list[str], ctx: dict[str, Any]) -> None:
    out, curves, val = doc.out_dir, ctx["curves"], ctx["val_metric"]
    fraction = ctx["report_settings"].gain_fraction
    doc.add(f"### Convergence ({100 * fraction:g}% of each seed's gain over the pretrained network, "
            f"{curves_mod.metric_label(val)})", "")
    conv = convergence.convergence_table(curves, dataset, methods, val, fraction)
    if not conv.empty:
        shown = pd.DataFrame({"Method": conv["method"], "Seeds": conv["n_seeds"].astype(str),
                              **{f"Epoch {e}": [pct(v) for v in conv[f"at{e}_mean"]] for e in convergence.EARLY_EPOCHS},
                              "Best": [pct(v) for v in conv["best_mean"]], "Gain": [pct(v) for v in conv["gain_mean"]],
                              f"Epochs to {100 * fraction:g}% of the gain": [_iv(r, "epoch", 1.0, 1) for _, r in conv.iterrows()],
                              "Seconds to it": [_iv(r, "seconds", 1.0, 1) for _, r in conv.iterrows()],
                              "Area / epoch": [_iv(r, "auc") for _, r in conv.iterrows()],
                              "Seeds without gain": conv["no_gain"].astype(str), "Epochs run": conv["epochs_run"].astype(str)})
        doc.table(out / "tables" / f"convergence_{dataset}", shown, f"{dataset}: {curves_mod.metric_label(val)} (%) at "
                  "epochs 0-2 (0: the pretrained network), best, gain over epoch 0, epochs and training seconds to "
                  f"{100 * fraction:g}% of the gain and the area under the curve per epoch, mean [95% interval] over seeds", conv)
    bullets: list[str] = []
    for adaptive in [m for m in methods if "adaptive" in m]:
        cmp = convergence.adaptive_comparison(curves, dataset, adaptive, val, fraction)
        bullets += readings.adaptive_speed(cmp, readings.claim_of(ctx["readings"], dataset, adaptive), val, fraction)
    doc.bullets((bullets or readings.adaptive_speed(None, None, val)) + setup.controller_flags(ctx["controllers"], dataset))
    target, tolerance = float(cfg["controller"]["target_error"]), float(cfg["controller"]["tolerance"])
    track = tracking.tracking_table(curves, dataset, target, tolerance, cfg)
    if not track.empty:
        shown = pd.DataFrame({"Run": track["run"], "Law": track["law"], "Seed": track["seed"].astype(str),
                              "κ at the first controlled epoch": [f"{v:.3g}" for v in track["kappa_first"]],
                              "e per controlled epoch": track["errors"], "On target from the 2nd": track["on_target"].map({True: "yes", False: "no"}),
                              "Fallbacks after the 1st (%)": [f"{100 * v:.1f}" for v in track["fallback_share"]],
                              "Last κ": [f"{v:.3g}" for v in track["kappa_last"]]})
        doc.table(out / "tables" / f"controller_tracking_{dataset}", shown,
                  f"{dataset}: the controller's training error per controlled epoch (target {target:g}, "
                  f"tolerance {tolerance:g})", track)
    doc.bullets(tracking.tracking_readings(track, target, tolerance))
    doc.figure(out / "figures" / f"fig3_controller_{dataset}", "Fig. 3: training and validation error, κ and its "
               "admissible range, fixed vs adaptive (each law)", lambda: figures_kappa.fig_controller(curves, dataset, target))


def sweeps_section(doc: ReportDoc, dataset: str, ctx: dict[str, Any], cfg: dict[str, Any] | None = None) -> None:
    out, curves, finals = doc.out_dir, ctx["curves"], ctx["finals"]
    for sweep, label, key in SWEEPS:
        for method in figures.sweep_methods_in(finals.loc[finals["dataset"] == dataset, "run"], sweep) or [None]:
            _sweep_block(doc, dataset, ctx, (sweep, label, key), method)
    doc.figure(out / "figures" / f"fig7_kappa_{dataset}", "Fig. 7: test Recall@K against κ (fixed) and κ0 "
               "(adaptive, per law), and the κ trajectories", lambda: figures_kappa.fig_kappa_sweeps(
                   finals, curves, dataset, sweep_spec(cfg, "kappa0")["methods"] if cfg else None))
    doc.figure(out / "figures" / f"fig8_fraction_{dataset}", "Fig. 8: the mined-fraction sweep per epoch",
               lambda: figures.fig_fraction_sweep(curves, dataset))


def _sweep_block(doc: ReportDoc, dataset: str, ctx: dict[str, Any], kind: tuple[str, str, str], method: str | None) -> None:
    """One sweep's table and reading, for one of its methods (None: the first; runs.sweep_run_name)."""
    (sweep, label, key), curves, finals, val = kind, ctx["curves"], ctx["finals"], ctx["val_metric"]
    table = figures.sweep_finals(finals, dataset, sweep, method)
    if table.empty:
        return
    vals = {v: last_val(curves, dataset, r, val) for v, r in figures.sweep_runs(curves, dataset, sweep, method)}
    title = f"{label}, {method}" if method else label
    doc.add(f"### Sweep of {title}", "")
    doc.table(doc.out_dir / "tables" / f"sweep_{sweep}{'_' + method if method else ''}_{dataset}",
              sweep_table(table, label, vals), f"{dataset}: per {title}, validation R@1 at the last epoch and test "
              "metrics (%)", table)
    pick = ctx["chosen"].get((dataset, key), ctx["chosen"].get(("", key)))
    doc.bullets(readings.fraction_effect(table, last_train_errors(curves, dataset), pick) if sweep == "fraction"
                else readings.sweep_reading(table, label, pick))


def published_section(doc: ReportDoc, dataset: str, methods: list[str], ctx: dict[str, Any]) -> None:
    doc.add("### Published numbers beside ours (the paper's Tables 1-2)", "")
    numeric = tables.results_table(ctx["summary"], ctx["published"], dataset, methods)
    warning = regime.caveat(ctx["regime"], dataset)
    if warning:
        doc.add(warning, "")
    doc.table(doc.out_dir / "tables" / f"results_{dataset}", tables.display_table(numeric, caveat=bool(warning)),
              f"{dataset}: test metrics (%), our mean over seeds; paper = published on {tables.published_dataset(dataset)}", numeric)
    if dataset in tables.PAPER_DATASETS:
        doc.add("Δ = ours − published (percentage points), means only; the published rows without a method of ours "
                "are copied from Song et al. (CVPR 2017) by the paper.", "")
    else:
        ref = tables.PAPER_DATASETS[tables.REFERENCE_DATASET]
        doc.add(f"The paper did not use `{dataset}`: the published {ref} rows stand beside ours for reference "
                "only, with no difference column, since numbers on different data are not comparable.", "")


def other_figures(doc: ReportDoc, cfg: dict[str, Any], dataset: str, methods: list[str], ctx: dict[str, Any]) -> None:
    out, curves = doc.out_dir, ctx["curves"]
    doc.add("### Other figures", "")
    full, seed = full_method(methods), int(cfg["seeds"][0])
    folder = ctx["runs_dir"] / Run(dataset, full, seed).folder if full else None

    def tsne() -> Figure:
        data = runs.read_embeddings(folder) if folder else None
        if data is None:
            raise figures.MissingInputs(f"no test embeddings of the full method ({full}, seed {seed}) for {dataset}")
        return figures.fig_tsne(*data, f"{dataset}: t-SNE of {full}, seed {seed}", seed=seed)

    def gallery() -> Figure:
        samples = runs.read_samples(folder) if folder else None
        if samples is None:
            raise figures.MissingInputs(f"no samples.json of the full method ({full}, seed {seed}) for {dataset}")
        return galleries.fig_triplet_gallery(samples, ctx["data_root"] / dataset,
                                             f"{dataset}: mined (left) vs random (right) triplets, {full} seed {seed}",
                                             where=str(folder / "samples.json"))

    doc.figure(out / "figures" / f"fig9_tsne_{dataset}", "Fig. 9: t-SNE of the test embeddings", tsne)
    doc.figure(out / "figures" / f"fig5_triplets_{dataset}", "Figs. 5-6/10: mined and random triplets at a few epochs", gallery)
    split = figures.time_split(curves, dataset, methods)
    doc.figure(out / "figures" / f"time_split_{dataset}", "Time split of an epoch per method",
               lambda: figures.fig_time_split(split, dataset))
    if not split.empty:
        shown = split.copy()
        for col in shown.columns[1:]:
            shown[col] = [f"{v:.2f}" for v in shown[col]]
        doc.table(out / "tables" / f"time_split_{dataset}", shown, f"{dataset}: mean seconds per epoch", split)


def dataset_section(doc: ReportDoc, cfg: dict[str, Any], dataset: str, ctx: dict[str, Any]) -> None:
    curves = ctx["curves"]
    methods = [m for m in cfg["methods"] if m in set(curves.loc[curves["dataset"] == dataset, "run"])]
    doc.add(f"## {dataset}", "")
    verdict_section(doc, dataset, methods, ctx)
    compute_section(doc, dataset, methods, ctx)
    doc.add("### Setup read from the logs", "")
    doc.bullets(regime.setup_lines(ctx["regime"], dataset)
                + setup.triplet_budget(curves, dataset, methods) + setup.index_used(curves, dataset)
                + setup.random_fallbacks(curves, dataset) + setup.baseline_floor(ctx["summary"], dataset, methods))
    convergence_section(doc, cfg, dataset, methods, ctx)
    sweeps_section(doc, dataset, ctx, cfg)
    published_section(doc, dataset, methods, ctx)
    other_figures(doc, cfg, dataset, methods, ctx)
