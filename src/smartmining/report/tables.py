"""Summary statistics and the results tables in the shape of the paper's Tables 1-2 (pure functions)."""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import pandas as pd

from smartmining.errors import SmartMiningError
from smartmining.methods import PAPER_ROWS
from smartmining.report.runs import BASELINES
from smartmining.report.stats import Interval, format_interval, mean_interval

# The metrics of the paper's tables: our log's name -> (column header, published.csv column).
TABLE_METRICS = {"nmi": ("NMI", "nmi"), "recall@1": ("R@1", "r1"), "recall@2": ("R@2", "r2"),
                 "recall@4": ("R@4", "r4"), "recall@8": ("R@8", "r8")}
PAPER_DATASETS = {"cub200": "CUB-200-2011", "cars196": "Cars196"}
# Published rows shown for reference beside a dataset the paper did not use.
REFERENCE_DATASET = "cub200"
PUBLISHED_COLUMNS = ["dataset", "method", "nmi", "r1", "r2", "r4", "r8"]
# Beyond the paper's metrics, shown where the logs have them.
EXTRA_METRICS = {"map@r": "MAP@R"}
# metrics.json (what `dvc metrics show` prints): only these, per method.
PRIMARY_METRICS = ("recall@1", "recall@8", "nmi", "map@r")
SUMMARY_COLUMNS = ["dataset", "run", "metric", "mean", "std", "n_seeds", "ci_lo", "ci_hi"]


def load_published() -> pd.DataFrame:
    """published.csv: the paper's Tables 1-2 (PAPER.md section 8), the only hand-typed numbers of the report."""
    path = resources.files("smartmining.report") / "published.csv"
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    if list(df.columns) != PUBLISHED_COLUMNS:
        raise SmartMiningError(f"{path}: expected columns {PUBLISHED_COLUMNS}, got {list(df.columns)}")
    return df


def summarise(finals: pd.DataFrame) -> pd.DataFrame:
    """Long summary over seeds: mean, sample std (ddof 1), n and the 95% t-interval of the mean."""
    if finals.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    rows = []
    for (dataset, run, metric), d in finals.groupby(["dataset", "run", "metric"], sort=False):
        iv = mean_interval(d["value"].tolist())
        rows.append((dataset, run, metric, iv.mean, iv.std, iv.n, iv.lo, iv.hi))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def nested_metrics(summary: pd.DataFrame, runs: list[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """{dataset: {run: {metric: mean}}} of the primary metrics, for `dvc metrics show`; only ``runs`` where given."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in summary.itertuples(index=False):
        if row.metric in PRIMARY_METRICS and (runs is None or row.run in runs):
            out.setdefault(row.dataset, {}).setdefault(row.run, {})[row.metric] = round(float(row.mean), 4)
    return out


def summary_interval(summary: pd.DataFrame, dataset: str, run: str, metric: str) -> Interval | None:
    sel = summary[(summary["dataset"] == dataset) & (summary["run"] == run) & (summary["metric"] == metric)]
    if sel.empty:
        return None
    r = sel.iloc[0]
    return Interval(float(r["mean"]), float(r["std"]), int(r["n_seeds"]), float(r["ci_lo"]), float(r["ci_hi"]))


def table_metrics(summary: pd.DataFrame, dataset: str) -> dict[str, str]:
    """The paper's metrics, then the extra ones the logs of ``dataset`` have: log name -> header."""
    have = set(summary.loc[summary["dataset"] == dataset, "metric"])
    return {**{m: head for m, (head, _) in TABLE_METRICS.items()}, **{m: h for m, h in EXTRA_METRICS.items() if m in have}}


def primary_table(summary: pd.DataFrame, dataset: str, methods: list[str]) -> pd.DataFrame:
    """Every method of the matrix (then the baselines): per metric, percent mean, std, n, 95% interval."""
    ours = summary[summary["dataset"] == dataset]
    present = [m for m in methods if m in set(ours["run"])] + [b for b in BASELINES if b in set(ours["run"])]
    rows = []
    for run in present:
        row: dict[str, Any] = {"method": run, "baseline": run in BASELINES, "n_seeds": 0}
        for metric in table_metrics(summary, dataset):
            iv = summary_interval(summary, dataset, run, metric) or mean_interval([])
            row["n_seeds"] = max(row["n_seeds"], iv.n)
            row.update({f"{metric}_mean": 100 * iv.mean, f"{metric}_std": 100 * iv.std, f"{metric}_n": iv.n,
                        f"{metric}_ci_lo": 100 * iv.lo, f"{metric}_ci_hi": 100 * iv.hi})
        rows.append(row)
    return pd.DataFrame(rows)


def display_primary(table: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """'62.3 [60.1, 64.5]' cells (mean [95% interval], percent) and the number of seeds."""
    names = [f"baseline: {m}" if b else m for m, b in zip(table["method"], table["baseline"])]
    out = pd.DataFrame({"Method": names, "Seeds": [str(n) for n in table["n_seeds"]]})
    for metric, head in metrics.items():
        out[head] = [format_interval(Interval(m, s, int(n), lo, hi))
                     for m, s, n, lo, hi in zip(*(table[f"{metric}_{k}"] for k in ("mean", "std", "n", "ci_lo", "ci_hi")))]
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
    present = [m for m in methods if m in set(ours["run"])] + [b for b in BASELINES if b in set(ours["run"])]
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


def display_table(table: pd.DataFrame, caveat: bool = False) -> pd.DataFrame:
    """The published comparison as strings with the paper's headers (2 decimals, percent): our mean over
    seeds (the intervals are in the primary table), the published numbers of ``published_dataset(dataset)``
    and, on the paper's datasets, ours minus published; with ``caveat`` (not the paper's protocol, see
    regime.py) the published and difference columns are marked with an asterisk."""
    mark = "*" if caveat else ""
    out = pd.DataFrame({"Method": table["method"], "Paper row": table["paper_row"],
                        "Seeds": [str(n) if n else "" for n in table["n_seeds"]]})
    for metric, (head, _) in TABLE_METRICS.items():
        out[head] = [_num(v) for v in table[f"{metric}_mean"]]
    for metric, (head, _) in TABLE_METRICS.items():
        out[f"paper {head}{mark}"] = [_num(v) for v in table[f"paper_{metric}"]]
    if f"diff_{next(iter(TABLE_METRICS))}" in table.columns:
        for metric, (head, _) in TABLE_METRICS.items():
            out[f"Δ {head}{mark}"] = [_num(v, signed=True) for v in table[f"diff_{metric}"]]
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
