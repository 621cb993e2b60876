"""Summary statistics and the results tables in the shape of the paper's Tables 1-2 (pure functions)."""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import pandas as pd

from smartmining.errors import SmartMiningError
from smartmining.methods import PAPER_ROWS
from smartmining.report.runs import UNTRAINED

# The metrics of the paper's tables: our log's name -> (column header, published.csv column).
TABLE_METRICS = {"nmi": ("NMI", "nmi"), "recall@1": ("R@1", "r1"), "recall@2": ("R@2", "r2"),
                 "recall@4": ("R@4", "r4"), "recall@8": ("R@8", "r8")}
PAPER_DATASETS = {"cub200": "CUB-200-2011", "cars196": "Cars196"}
# Published rows shown for reference beside a dataset the paper did not use.
REFERENCE_DATASET = "cub200"
PUBLISHED_COLUMNS = ["dataset", "method", "nmi", "r1", "r2", "r4", "r8"]


def load_published() -> pd.DataFrame:
    """published.csv: the paper's Tables 1-2 (PAPER.md section 8), the only hand-typed numbers of the report."""
    path = resources.files("smartmining.report") / "published.csv"
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    if list(df.columns) != PUBLISHED_COLUMNS:
        raise SmartMiningError(f"{path}: expected columns {PUBLISHED_COLUMNS}, got {list(df.columns)}")
    return df


def summarise(finals: pd.DataFrame) -> pd.DataFrame:
    """Long summary (dataset, run, metric, mean, std, n_seeds) over seeds; std is the sample std (ddof 1)."""
    cols = ["dataset", "run", "metric", "mean", "std", "n_seeds"]
    if finals.empty:
        return pd.DataFrame(columns=cols)
    g = finals.groupby(["dataset", "run", "metric"], sort=False)["value"]
    out = g.agg(mean="mean", std=lambda v: v.std(ddof=1), n_seeds="count").reset_index()
    return out[cols]


def nested_metrics(summary: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """{dataset: {run: {metric: mean}}} for `dvc metrics show`."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in summary.itertuples(index=False):
        out.setdefault(row.dataset, {}).setdefault(row.run, {})[row.metric] = float(row.mean)
    return out


def results_table(summary: pd.DataFrame, published: pd.DataFrame, dataset: str, methods: list[str]) -> pd.DataFrame:
    """One dataset's table, in percent: our mean/std per method (and the untrained floor), the published
    row each method maps to, and ours minus published where the dataset is the paper's.

    Paper rows with no method of ours (Lifted Structure, N-pairs, Clustering) close the table.
    """
    pub_ds = dataset if dataset in PAPER_DATASETS else REFERENCE_DATASET
    pub = published[published["dataset"] == pub_ds].set_index("method")
    with_diff = dataset in PAPER_DATASETS
    ours = summary[summary["dataset"] == dataset]
    present = [m for m in methods if m in set(ours["run"])]
    if UNTRAINED in set(ours["run"]):
        present.append(UNTRAINED)
    rows: list[dict[str, Any]] = []
    for run in present:
        stats = ours[ours["run"] == run].set_index("metric")
        paper_row = PAPER_ROWS.get(run, "")
        row: dict[str, Any] = {"method": run, "paper_row": paper_row,
                               "n_seeds": int(stats["n_seeds"].max()) if len(stats) else 0}
        for metric, (_, pcol) in TABLE_METRICS.items():
            mean = 100 * stats["mean"].get(metric, math.nan)
            row[f"{metric}_mean"] = mean
            row[f"{metric}_std"] = 100 * stats["std"].get(metric, math.nan)
            paper = float(pub.loc[paper_row, pcol]) if paper_row in pub.index else math.nan
            row[f"paper_{metric}"] = paper
            if with_diff:
                row[f"diff_{metric}"] = mean - paper
        rows.append(row)
    shown = {r["paper_row"] for r in rows}
    for paper_row in pub.index:
        if paper_row in shown:
            continue
        row = {"method": "", "paper_row": paper_row, "n_seeds": 0}
        for metric, (_, pcol) in TABLE_METRICS.items():
            row.update({f"{metric}_mean": math.nan, f"{metric}_std": math.nan, f"paper_{metric}": float(pub.loc[paper_row, pcol])})
            if with_diff:
                row[f"diff_{metric}"] = math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def published_dataset(dataset: str) -> str:
    """Whose published numbers stand beside ours: the same dataset, or the reference one."""
    return PAPER_DATASETS.get(dataset, PAPER_DATASETS[REFERENCE_DATASET])


def _num(value: float, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return ""
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def mean_std(mean: float, std: float) -> str:
    """'49.78 ± 1.23'; the mean alone where there is one seed (no spread) and '' where there is no mean."""
    if math.isnan(mean):
        return ""
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The numeric table as strings with the paper's headers (2 decimals, percent); "paper" columns hold the
    published numbers of ``published_dataset(dataset)``."""
    out = pd.DataFrame({"Method": table["method"], "Paper row": table["paper_row"],
                        "Seeds": [str(n) if n else "" for n in table["n_seeds"]]})
    for metric, (head, _) in TABLE_METRICS.items():
        out[head] = [mean_std(m, s) for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"])]
    for metric, (head, _) in TABLE_METRICS.items():
        out[f"paper {head}"] = [_num(v) for v in table[f"paper_{metric}"]]
    if f"diff_{next(iter(TABLE_METRICS))}" in table.columns:
        for metric, (head, _) in TABLE_METRICS.items():
            out[f"Δ {head}"] = [_num(v, signed=True) for v in table[f"diff_{metric}"]]
    return out


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table of a DataFrame of strings."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |",
             "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))
    return out.replace("±", r"$\pm$").replace("Δ", r"$\Delta$")


def to_latex(df: pd.DataFrame, caption: str) -> str:
    """A booktabs tabular of a DataFrame of strings (written by hand: no jinja2 needed)."""
    spec = "ll" + "r" * (len(df.columns) - 2)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{latex_escape(caption)}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in df.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in df.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def summary_lookup(summary: pd.DataFrame, dataset: str, run: str, metric: str) -> tuple[float, float, int] | None:
    """(mean, std, n_seeds) of one run's metric, or None where the run is absent."""
    sel = summary[(summary["dataset"] == dataset) & (summary["run"] == run) & (summary["metric"] == metric)]
    if sel.empty:
        return None
    r = sel.iloc[0]
    return float(r["mean"]), float(r["std"]), int(r["n_seeds"])

