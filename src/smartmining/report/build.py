"""The report stage: run logs in; summary.csv, curves.csv, metrics.json, tables, figures and REPORT.md out.

Every number of REPORT.md comes from the run logs or from published.csv; every sentence about them is
generated (readings.py). A figure whose inputs are missing is skipped with a note, never a crash.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from smartmining import atomic
from smartmining.methods import METHODS
from smartmining.errors import SmartMiningError
from smartmining.runs import Run
from smartmining.report import convergence, figures, galleries, readings, runs, tables

log = logging.getLogger(__name__)

# The "full" method whose embeddings and triplets are drawn: the first of these that ran.
FULL_METHOD_PREFERENCE = ("smart+global+adaptive", "smart+global", "smart+adaptive", "smart", "hard")


class ReportDoc:
    """REPORT.md as it is assembled, with the folder its links are relative to."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.lines: list[str] = []
        self.skipped: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def link(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.out_dir)).as_posix()

    def figure(self, stem: Path, caption: str, make: Callable[[], Figure]) -> None:
        """Draw and save one figure (png + pdf) and link it; on MissingInputs note why it is skipped."""
        try:
            fig = make()
        except figures.MissingInputs as why:
            self.add(f"*{caption}: skipped: {why}.*", "")
            self.skipped.append(f"{caption}: {why}")
            return
        png, pdf = figures.save_figure(fig, stem)
        self.add(f"![{caption}]({self.link(png)})", "", f"{caption} ([PDF]({self.link(pdf)}))", "")

    def table(self, stem: Path, shown: pd.DataFrame, caption: str, numeric: pd.DataFrame | None = None) -> None:
        """Write stem.csv (numeric where given), stem.md and stem.tex, and embed the Markdown."""
        md = tables.to_markdown(shown)
        atomic.write_text(f"{stem}.csv", (shown if numeric is None else numeric).to_csv(index=False, float_format="%.6g"))
        atomic.write_text(f"{stem}.md", md)
        atomic.write_text(f"{stem}.tex", tables.to_latex(shown, caption))
        links = ", ".join(f"[{ext}]({self.link(Path(f'{stem}.{ext}')) })" for ext in ("csv", "md", "tex"))
        self.add(f"**{caption}** ({links})", "", md)

    def bullets(self, items: list[str]) -> None:
        self.add(*[f"- {s}" for s in items], "")


def full_method(names: list[str]) -> str | None:
    for m in FULL_METHOD_PREFERENCE:
        if m in names:
            return m
    return names[0] if names else None


def deviation_headings(path: Path) -> list[str]:
    """Markdown list items of the ##/### headings of docs/deviations.md (nested by level)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            out.append(f"  - {line[4:].strip()}")
        elif line.startswith("## "):
            out.append(f"- {line[3:].strip()}")
    return out


def write_data_files(out_dir: Path, summary: pd.DataFrame, curves: pd.DataFrame) -> None:
    atomic.write_text(out_dir / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    atomic.write_text(out_dir / "curves.csv", curves.to_csv(index=False, float_format="%.6g"))
    atomic.write_json(out_dir / "metrics.json", tables.nested_metrics(summary))
    for i, dataset in enumerate(sorted(curves["dataset"].unique())):
        text = recall_wide(curves, dataset).to_csv(float_format="%.6g")
        atomic.write_text(out_dir / f"recall_at_1_{dataset}.csv", text)
        if i == 0:  # `dvc plots show` draws this one (dvc.yaml names its columns)
            atomic.write_text(out_dir / "recall_at_1.csv", text)


def recall_wide(curves: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Mean R@1 per epoch of one dataset, one column per run; every method of the matrix has a column
    (empty where it was not run) so that a plot naming them all draws whatever a profile ran."""
    rows = curves[curves["dataset"] == dataset]
    wide = rows.groupby(["epoch", "run"])["recall@1"].mean().unstack("run").rename_axis(columns=None)
    methods = [m for m in METHODS if m not in wide.columns]
    return wide.reindex(columns=[*wide.columns, *methods])


def sweep_table(sweep: pd.DataFrame, label: str) -> pd.DataFrame:
    """Final metrics per swept value, percent, as strings."""
    rows = []
    for x, d in sweep.groupby("x"):
        stats = d.set_index("metric")
        row: dict[str, Any] = {label: f"{x:g}", "Seeds": str(int(stats["n_seeds"].max()))}
        for metric, (head, _) in tables.TABLE_METRICS.items():
            if metric in stats.index:
                row[head] = tables.mean_std(100 * stats.loc[metric, "mean"], 100 * stats.loc[metric, "std"])
        rows.append(row)
    return pd.DataFrame(rows)


def last_train_errors(curves: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Mean training error at the last epoch per mined fraction of the sweep."""
    rows = []
    for value, run in figures.sweep_runs(curves, dataset, "fraction"):
        mc = convergence.mean_curve(curves, dataset, run, "train_error").dropna(subset=["mean"])
        if len(mc):
            rows.append({"x": value, "train_error": float(mc["mean"].iloc[-1])})
    return pd.DataFrame(rows, columns=["x", "train_error"])


def dataset_section(doc: ReportDoc, cfg: dict[str, Any], dataset: str, ctx: dict[str, Any]) -> None:
    out, curves, summary, finals = doc.out_dir, ctx["curves"], ctx["summary"], ctx["finals"]
    methods = [m for m in cfg["methods"] if m in set(curves.loc[curves["dataset"] == dataset, "run"])]
    fig_dir, tab_dir = out / "figures", out / "tables"
    doc.add(f"## {dataset}", "")

    doc.add("### Results (the paper's Tables 1-2)", "")
    numeric = tables.results_table(summary, ctx["published"], dataset, list(cfg["methods"]))
    doc.table(tab_dir / f"results_{dataset}", tables.display_table(numeric),
              f"{dataset}: test metrics (%); paper = published on {tables.published_dataset(dataset)}", numeric)
    if dataset in tables.PAPER_DATASETS:
        doc.add("Δ = ours − published (percentage points). The published rows without a method of ours are "
                "copied from Song et al. (CVPR 2017) by the paper.", "")
    else:
        ref = tables.PAPER_DATASETS[tables.REFERENCE_DATASET]
        doc.add(f"The paper did not use `{dataset}`: the published {ref} rows stand beside ours for reference "
                "only, with no difference column, since numbers on different data are not comparable.", "")

    doc.add("### Setup read from the logs", "")
    doc.bullets(readings.index_used(curves, dataset) + readings.random_fallbacks(curves, dataset)
                + readings.untrained_floor(summary, dataset, methods))

    doc.add("### Convergence (95% of the best mean R@1)", "")
    conv = convergence.convergence_table(curves, dataset, methods)
    ratio = convergence.adaptive_ratio(conv)
    shown = pd.DataFrame({
        "Method": conv["method"], "Best R@1": [f"{100 * v:.2f}" for v in conv["best_r1"]],
        "95% of best": [f"{100 * v:.2f}" for v in conv["threshold"]], "Epoch": conv["epoch"].astype(str),
        "Seconds": [f"{v:.1f}" for v in conv["seconds"]], "Epochs run": conv["epochs_run"].astype(str),
    })
    doc.table(tab_dir / f"convergence_{dataset}", shown, f"{dataset}: epoch and seconds to 95% of the best mean R@1", conv)
    doc.add("Seconds are the cumulative `t_epoch` (mining, training and the per-epoch evaluation), mean over seeds.", "")
    if ratio:
        doc.add(f"Adaptive / fixed: {ratio['epoch_ratio']:.2f} in epochs, {ratio['seconds_ratio']:.2f} in seconds "
                f"(`{ratio['adaptive']}` / `{ratio['fixed']}`).", "")

    kappa_sweep = figures.sweep_finals(finals, dataset, "kappa")
    fraction_sweep = figures.sweep_finals(finals, dataset, "fraction")
    for sweep, label, name in ((kappa_sweep, "κ", "kappa"), (fraction_sweep, "mined fraction", "fraction")):
        if not sweep.empty:
            doc.add(f"### {label} sweep", "")
            doc.table(tab_dir / f"sweep_{name}_{dataset}", sweep_table(sweep, label), f"{dataset}: final metrics (%) per {label}", sweep)

    doc.add("### Readings (generated from the numbers above)", "")
    doc.add("**Smart mining vs semi-hard.**", "")
    doc.bullets(readings.smart_vs_semihard(summary, dataset, methods))
    doc.add("**The global loss.**", "")
    doc.bullets(readings.global_loss(summary, dataset))
    doc.add("**The adaptive controller.**", "")
    doc.bullets(readings.controller(conv, ratio, summary, dataset))
    doc.add("**κ sweep.**", "")
    doc.bullets(readings.best_of_sweep(kappa_sweep, "κ"))
    doc.add("**Mined fraction.**", "")
    doc.bullets(readings.fraction_effect(fraction_sweep, last_train_errors(curves, dataset)))

    doc.add("### Figures", "")
    target = float(cfg.get("controller", {}).get("target_error", 0.5))
    doc.figure(fig_dir / f"fig4_recall_{dataset}", "Fig. 4: Recall@1 per epoch and against wall-clock time",
               lambda: figures.fig_recall_curves(curves, dataset, methods))
    doc.figure(fig_dir / f"fig3_controller_{dataset}", "Fig. 3: training error and κ, fixed vs adaptive",
               lambda: figures.fig_controller(curves, dataset, target))
    doc.figure(fig_dir / f"fig7_kappa_{dataset}", "Fig. 7: Recall@K at the last epoch against κ",
               lambda: figures.fig_kappa_sweep(finals, dataset))
    doc.figure(fig_dir / f"fig8_fraction_{dataset}", "Fig. 8: the mined-fraction sweep per epoch",
               lambda: figures.fig_fraction_sweep(curves, dataset))
    full = full_method(methods)
    seed = int(cfg["seeds"][0])
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

    doc.figure(fig_dir / f"fig9_tsne_{dataset}", "Fig. 9: t-SNE of the test embeddings", tsne)
    doc.figure(fig_dir / f"fig5_triplets_{dataset}", "Figs. 5-6/10: mined and random triplets at a few epochs", gallery)
    split = figures.time_split(curves, dataset, methods)
    doc.figure(fig_dir / f"time_split_{dataset}", "Time split of an epoch per method",
               lambda: figures.fig_time_split(split, dataset))
    if not split.empty:
        shown = split.copy()
        for col in shown.columns[1:]:
            shown[col] = [f"{v:.2f}" for v in shown[col]]
        doc.table(tab_dir / f"time_split_{dataset}", shown, f"{dataset}: mean seconds per epoch", split)


def build_report(cfg: dict[str, Any], runs_dir: Path, out_dir: Path, data_root: Path, *,
                 deviations: Path = Path("docs/deviations.md")) -> Path:
    """Write the profile's report under ``out_dir`` and return the path of REPORT.md."""
    runs_dir, out_dir, data_root = Path(runs_dir), Path(out_dir), Path(data_root)
    figures.apply_style()
    expected = runs.expected_runs(cfg)
    curves, missing = runs.read_curves(runs_dir, expected)
    present = [r for r in expected if r not in set(missing)]
    if not present:  # most likely a wrong --runs folder: an empty report would hide it
        raise SmartMiningError(f"{runs_dir}: no epochs.csv of any of the profile's {len(expected)} runs "
                               f"(expected e.g. {runs_dir / expected[0].folder / 'epochs.csv'}); train them first")
    finals = runs.read_finals(runs_dir, present, curves)
    untrained = runs.read_untrained(out_dir, list(cfg["datasets"]))
    frames = [f for f in (finals, untrained) if not f.empty]
    summary = tables.summarise(pd.concat(frames, ignore_index=True) if frames else finals)
    write_data_files(out_dir, summary, curves)

    doc = ReportDoc(out_dir)
    name = cfg.get("profile", "?")
    doc.add(f"# Smart Mining for Deep Metric Learning: report of profile `{name}`", "",
            str(cfg.get("description", "")), "",
            f"Runs found: {len(present)} of {len(expected)} (methods × seeds, plus sweeps). Metrics are in percent: "
            "mean ± sample std (ddof 1) over seeds; a single seed shows the mean alone. "
            "Data: [summary.csv](summary.csv), [curves.csv](curves.csv), [metrics.json](metrics.json).", "")
    if missing:
        doc.add("Runs without logs (left out): " + ", ".join(f"`{r.folder}`" for r in missing) + ".", "")
    ctx = {"curves": curves, "summary": summary, "finals": finals, "published": tables.load_published(),
           "runs_dir": runs_dir, "data_root": data_root}
    for dataset in cfg["datasets"]:
        dataset_section(doc, cfg, dataset, ctx)

    doc.add("## Deviations from the paper", "")
    dev = Path(deviations)
    link = Path(os.path.relpath(dev.resolve(), out_dir.resolve())).as_posix()
    doc.add(f"See [docs/deviations.md]({link}).", "")
    doc.add(*deviation_headings(dev), "")
    if doc.skipped:
        doc.add("## Skipped figures", "")
        doc.bullets(doc.skipped)
    report = out_dir / "REPORT.md"
    atomic.write_text(report, "\n".join(doc.lines).rstrip() + "\n")
    log.info("report written to %s (%d runs, %d missing)", report, len(present), len(missing))
    return report
