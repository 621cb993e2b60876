"""The report stage: run logs in; summary.csv, curves.csv, metrics.json, tables, figures and REPORT.md out.

Every number of REPORT.md comes from the run logs, the selection file(s), the baselines or published.csv; every
sentence about them is generated (readings.py, setup.py). A figure whose inputs are missing is skipped with
a note; an optional log column or file that is absent is named in "Notes on the inputs", never a crash.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from smartmining import atomic
from smartmining.errors import SmartMiningError
from smartmining.methods import METHODS
from smartmining.report import claims, figures, inputs, replication, runs, stamp, tables
from smartmining.report.curves import metric_label, validation_metric
from smartmining.report.doc import ReportDoc, deviation_headings
from smartmining.report.family import Reading, to_json
from smartmining.report.missing import Folders, find_missing, missing_lines
from smartmining.report.regime import read_regime
from smartmining.report.sections import dataset_section

log = logging.getLogger(__name__)

# Optional epochs.csv columns and what the report does without them.
OPTIONAL_COLUMNS = {
    "val_recall@1": "convergence, Fig. 4 and the plateau check use the per-epoch test recall@1 instead",
    "image_passes": "no equal-compute view by image passes",
    "compute_passes": "the equal-compute view counts a re-embedded image as a training pass (image_passes)",
    "t_epoch": "no equal-compute view by seconds, no seconds to convergence",
    "random_zero_loss": "no regime table",
    "e_mined": "Fig. 3 lacks the error over mined triplets",
    "e_random": "Fig. 3 lacks the error over random triplets",
    "kappa_lo": "Fig. 3 draws κ without its admissible range",
    "kappa_hi": "Fig. 3 draws κ without its admissible range",
    "n_steps": "the equal-budget check covers triplets only",
}


def write_data_files(out_dir: Path, summary: pd.DataFrame, curves: pd.DataFrame, methods: list[str]) -> list[Path]:
    """summary.csv, curves.csv, metrics.json and the recall@1 curves; returns their paths."""
    written = [out_dir / "summary.csv", out_dir / "curves.csv", out_dir / "metrics.json"]
    atomic.write_text(written[0], summary.to_csv(index=False, float_format="%.6g"))
    atomic.write_text(written[1], curves.to_csv(index=False, float_format="%.6g"))
    atomic.write_json(written[2], tables.nested_metrics(summary, [*methods, *runs.BASELINES]))
    metric = validation_metric(curves)
    for i, dataset in enumerate(sorted(curves["dataset"].unique())):
        text = recall_wide(curves, dataset, metric).to_csv(float_format="%.6g")
        atomic.write_text(out_dir / f"recall_at_1_{dataset}.csv", text)
        written.append(out_dir / f"recall_at_1_{dataset}.csv")
        if i == 0:  # `dvc plots show` draws this one (dvc.yaml names its columns)
            atomic.write_text(out_dir / "recall_at_1.csv", text)
            written.append(out_dir / "recall_at_1.csv")
    return written


def readings_document(cfg: dict[str, Any], found: list[Reading], st: claims.ReportSettings,
                      made: dict[str, str]) -> dict[str, Any]:
    """readings.json: the stamp, the rules, every reading (id, estimate, interval, p-values, verdict), the claims."""
    return {"stamp": made, "profile": cfg.get("profile", "?"), "alpha": st.alpha,
            "margins": {"points": st.margin_points, "epochs": st.margin_epochs}, "gain_fraction": st.gain_fraction,
            "claims": claims.claims_json(found), "readings": [to_json(r) for r in found]}


def claims_section(doc: ReportDoc, found: list[Reading], datasets: list[str], st: claims.ReportSettings) -> None:
    """REPORT.md's lead: one verdict per claim and dataset, with the family and its size."""
    doc.add("## The claims (PAPER.md section 10)", "",
            f"Primary family per dataset: the claims C1-C4, tested by 5 paired comparisons (C4 by its speed and, "
            f"beside it, its final R@1), each with a two-sided paired t-test and an equivalence test (TOST): up to 10 "
            f"hypotheses under Holm at α = {st.alpha:g}. A claim is *supported* or *contradicted* only when its "
            f"difference test survives Holm; *equivalent within the margin* only when its TOST does (margins fixed "
            f"in advance: ±{st.margin_points:g} R@1 points, ±{st.margin_epochs:g} epoch for C4's speed); otherwise "
            "*inconclusive*. Intervals are 95% t-intervals of the paired mean difference (not adjusted). Every other "
            "reading of this report is exploratory and Holm-controlled within its own family, named where it stands.", "")
    for dataset in datasets:
        doc.table(doc.out_dir / "tables" / f"claims_{dataset}", claims.claim_rows(found, dataset), f"{dataset}: the claims")


def recall_wide(curves: pd.DataFrame, dataset: str, metric: str = "recall@1") -> pd.DataFrame:
    """Mean ``metric`` (validation R@1 where logged) per epoch of one dataset, one column per run; every
    method of the matrix has a column (empty where it was not run) so that a plot naming them all draws
    whatever a profile ran."""
    rows = curves[curves["dataset"] == dataset]
    wide = rows.groupby(["epoch", "run"])[metric].mean().unstack("run").rename_axis(columns=None)
    methods = [m for m in METHODS if m not in wide.columns]
    return wide.reindex(columns=[*wide.columns, *methods])


def input_notes(curves: pd.DataFrame, selection: pd.DataFrame, out_dir: Path, controllers: pd.DataFrame,
                cfg: dict[str, Any]) -> list[str]:
    """What the logs lack, and what the report does about it."""
    notes = [f"Column `{c}` is absent from every epochs.csv: {why}." for c, why in OPTIONAL_COLUMNS.items()
             if c not in curves.columns or not curves[c].notna().any()]
    if selection.empty:
        where = " or ".join(f"`{p}`" for p, _ in inputs.selection_paths(out_dir, list(cfg["datasets"])))
        notes.append(f"No selection file (the select stage's choices on validation classes) at {where}: the "
                     "hyperparameters of the comparison are shown without their validation evidence.")
    adaptive = [m for m in cfg["methods"] if "adaptive" in m]
    if adaptive and controllers.empty:
        notes.append("No controller.json for the adaptive runs: the controller's rules and flags are not shown.")
    return notes


def selection_table(selection: pd.DataFrame) -> pd.DataFrame:
    """Per method: its validation runs, the values tried with their scores, and the choice."""
    def point(values: dict[str, float]) -> str:
        return ", ".join(f"{k.split('.')[-1]} {v:g}" for k, v in values.items())

    return pd.DataFrame({
        "Dataset": selection["dataset"], "Method": [f"`{m}`" for m in selection["method"]],
        "Validation runs": selection["n_runs"],
        "Chosen": [point(c) for c in selection["chosen"]],
        "Tried (validation score)": ["; ".join(f"{point(t['values'])}: {100 * t['score']:.1f}" for t in tried)
                                     for tried in selection["tried"]],
        "By": [f"{m}, seeds {s}" for m, s in zip(selection["metric"], selection["seeds"])],
    })


def tuning_budget_line(selection: pd.DataFrame) -> str:
    """Says plainly whether every method had the same number of validation runs."""
    counts = selection.groupby("dataset")["n_runs"].agg(["min", "max"])
    if (counts["min"] == counts["max"]).all():
        n = int(counts["max"].iloc[0])
        return (f"**The tuning budget is equal**: every method of the matrix had {n} validation "
                f"run{'s' if n != 1 else ''} (the learning rate from one common grid; each offline miner its own mined fraction; the fixed κ "
                "drawn jointly with the fraction it runs with; each adaptive law its target error).")
    return ("**The tuning budget is not equal**: validation runs per method range from "
            f"{int(counts['min'].min())} to {int(counts['max'].max())}; read the comparisons with that in mind.")


def grid_edge_lines(selection: pd.DataFrame, cfg: dict[str, Any]) -> list[str]:
    """A tuned parameter that every method chose at the same end of its grid: the best value may lie beyond it,
    so the comparison is at equal tuning, not at each method's optimum."""
    from smartmining.tuning import TUNED, tuning_spec

    lines = []
    for dataset, rows in selection.groupby("dataset"):
        for key, tuned in TUNED.items():
            grid = sorted(float(v) for v in tuning_spec(cfg).get(key) or [])
            chosen = [c[tuned.parameter] for c in rows["chosen"] if tuned.parameter in c]
            if len(grid) < 2 or not chosen:
                continue
            for end, word in ((grid[0], "lowest"), (grid[-1], "highest")):
                if all(v == end for v in chosen):
                    lines.append(f"**At the edge of the grid** ({dataset}): every method tuned over `tuning.{key}` "
                                 f"chose its {word} value, {end:g} ({len(chosen)} of {len(chosen)}); a better value may "
                                 "lie beyond it, so read the comparisons as at equal tuning, not at each method's best.")
    return lines


def build_report(cfg: dict[str, Any], runs_dir: Path, out_dir: Path, data_root: Path, *,
                 deviations: Path = Path("docs/deviations.md"), reference: Path | None = None,
                 use_reference: bool = True, echo: Callable[[str], None] | None = None,
                 logs: Path | None = None) -> Path:
    """Write the profile's report under ``out_dir`` and return the path of REPORT.md. The reference readings
    (replication.load_reference) are read before anything is written; ``echo`` receives the replication lines
    (the log gets them without it); ``logs``: the pipeline's logs/<profile>, where the report finds why a
    dataset is missing."""
    runs_dir, out_dir, data_root = Path(runs_dir), Path(out_dir), Path(data_root)
    folders = Folders(data_root, runs_dir, out_dir, Path(logs) if logs is not None else Path("logs") / cfg.get("profile", ""))
    ref, ref_source = replication.load_reference(out_dir, reference, use_reference)
    made = stamp.make_stamp()
    st = claims.report_settings(cfg)
    figures.apply_style()
    expected = runs.expected_runs(cfg, out_dir)
    curves, missing = runs.read_curves(runs_dir, expected)
    present = [r for r in expected if r not in set(missing)]
    if not present:  # most likely a wrong --runs folder: an empty report would hide it
        raise SmartMiningError(f"{runs_dir}: no epochs.csv of any of the profile's {len(expected)} runs "
                               f"(expected e.g. {runs_dir / expected[0].folder / 'epochs.csv'}); train them first")
    finals = runs.read_finals(runs_dir, present, curves)
    baselines = runs.read_baselines(out_dir, list(cfg["datasets"]))
    frames = [f for f in (finals, baselines) if not f.empty]
    summary = tables.summarise(pd.concat(frames, ignore_index=True) if frames else finals)
    written = write_data_files(out_dir, summary, curves, list(cfg["methods"]))
    selection = inputs.read_selection(out_dir, list(cfg["datasets"]))
    controllers = inputs.read_controllers(runs_dir, present)

    doc = ReportDoc(out_dir)
    name = cfg.get("profile", "?")
    val = validation_metric(curves)
    doc.add(f"# Smart Mining for Deep Metric Learning: report of profile `{name}`", "",
            stamp.header_line(made), "", str(cfg.get("description", "")), "",
            f"Runs found: {len(present)} of {len(expected)} (methods × seeds, plus sweeps). Metrics are in percent: "
            "mean [95% t-interval of the mean] over seeds; comparisons are paired over the seeds both methods ran and "
            "read by Holm-adjusted tests (below). Curves, convergence and the "
            f"plateau check use the {metric_label(val)} per epoch. "
            "Data: [summary.csv](summary.csv), [curves.csv](curves.csv), [metrics.json](metrics.json).", "")
    if missing:
        doc.add("Runs without logs (left out): " + ", ".join(f"`{r.folder}`" for r in missing) + ".", "")
        doc.add("## Missing from this report", "", "The pipeline went on past these (Snakemake's keep-going); "
                "fix the cause and rerun `snakemake all`: only what is missing runs.", "")
        doc.bullets(missing_lines(find_missing(cfg, missing, folders)))
    notes = input_notes(curves, selection, out_dir, controllers, cfg)
    doc.add("## Hyperparameters chosen on validation classes", "")
    if selection.empty:
        doc.add("*No selection file: see the notes on the inputs.*", "")
    else:
        doc.add(tuning_budget_line(selection), "")
        for line in grid_edge_lines(selection, cfg):
            doc.add(line, "")
        doc.table(out_dir / "tables" / "selection", selection_table(selection),
                  "each method's hyperparameters, chosen on validation classes (validation scores in %)")
    chosen = inputs.chosen_for_sweeps(selection, cfg)
    ctx = {"curves": curves, "summary": summary, "finals": finals, "published": tables.load_published(),
           "runs_dir": runs_dir, "data_root": data_root, "val_metric": val, "controllers": controllers, "chosen": chosen,
           "baselines": baselines, "report_settings": st, "reembed_cost": cfg.get("train", {}).get("reembed_cost"),
           "regime": read_regime(runs_dir, present)}
    datasets = [d for d in cfg["datasets"] if any(r.dataset == d for r in present)]
    methods = {d: [m for m in cfg["methods"] if m in set(curves.loc[curves["dataset"] == d, "run"])] for d in datasets}
    ctx["readings"] = found = claims.all_readings(ctx, datasets, methods, st)
    document = readings_document(cfg, found, st, made)
    changes = replication.compare(document, ref) if ref is not None else None
    for line in replication.console(changes, ref_source, ref):
        (echo or log.info)(line)
    claims_section(doc, found, datasets, st)
    doc.add(*replication.section(changes, ref_source, document, ref))
    for dataset in datasets:
        dataset_section(doc, cfg, dataset, ctx)

    doc.add("## Deviations from the paper", "")
    dev = Path(deviations)
    link = Path(os.path.relpath(dev.resolve(), out_dir.resolve())).as_posix()
    doc.add(f"See [docs/deviations.md]({link}).", "")
    doc.add(*deviation_headings(dev), "")
    if notes:
        doc.add("## Notes on the inputs", "")
        doc.bullets(notes)
    if doc.skipped:
        doc.add("## Skipped figures", "")
        doc.bullets(doc.skipped)
    report = out_dir / "REPORT.md"
    atomic.write_json(out_dir / replication.READINGS_FILE, document)
    atomic.write_text(report, "\n".join(doc.lines).rstrip() + "\n")
    stamp.write_stamp_file(out_dir, made, [*written, *doc.written, out_dir / replication.READINGS_FILE, report])
    log.info("report written to %s (%d runs, %d missing)", report, len(present), len(missing))
    return report
