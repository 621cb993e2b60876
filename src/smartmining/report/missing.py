"""What the report lacks and why: per dataset, the first pipeline stage whose output is missing and the
last error line of its log (the pipeline keeps going past a failed dataset; workflow/rules/*.smk).

The paths are the pipeline's (workflow/rules/*.smk write its logs under logs/<profile>/<rule>/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartmining.runs import Run, selection_runs


@dataclass(frozen=True)
class Missing:
    dataset: str
    stage: str  # the first stage with no output: prepare, check, pretrain, select, train
    log: Path | None
    error: str  # the log's last error line, or what is absent


def last_error(log: Path) -> str:
    """The last line of ``log`` that reads as an error (else its last line); '' without a log."""
    try:
        lines = [x.strip() for x in log.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    errors = [x for x in lines if x.lower().startswith(("error", "warning: no gpu")) or "Error" in x.split(":")[0]]
    return (errors or lines or [""])[-1][:300]


@dataclass(frozen=True)
class Folders:
    """A profile's folders: prepared data, runs, results and logs (data/<p>, runs/<p>, results/<p>, logs/<p>)."""

    data: Path
    runs: Path
    results: Path
    logs: Path


def stage_outputs(cfg: dict[str, Any], dataset: str, f: Folders) -> list[tuple[str, Path, Path]]:
    """(stage, output, log) of the per-dataset stages before training, in pipeline order."""
    stages = [("prepare", f.data / dataset / "manifest.csv", f.logs / "prepare" / f"{dataset}.log"),
              ("check", f.results / "checked" / f"{dataset}.json", f.logs / "check" / f"{dataset}.log")]
    if cfg.get("model", {}).get("init") == "pretrain":
        stages.append(("pretrain", f.runs / dataset / "_pretrain" / "backbone.pt", f.logs / "pretrain" / f"{dataset}.log"))
    if selection_runs(cfg, dataset):
        stages.append(("select", f.results / "selection" / f"{dataset}.json", f.logs / "select" / f"{dataset}.log"))
    return stages


def find_missing(cfg: dict[str, Any], missing_runs: list[Run], folders: Folders) -> list[Missing]:
    """One entry per dataset with missing runs: the earliest stage that has no output, with its log."""
    logs = folders.logs
    out = []
    for dataset in [d for d in cfg["datasets"] if any(r.dataset == d for r in missing_runs)]:
        for stage, output, log in stage_outputs(cfg, dataset, folders):
            if not output.exists():
                where = log if log.is_file() else None
                out.append(Missing(dataset, stage, where, last_error(log) if where else f"no {output.name}"))
                break
        else:
            runs = [r for r in missing_runs if r.dataset == dataset]
            train_logs = [logs / "train" / r.dataset / r.name / f"seed{r.seed}.log" for r in runs]
            failed = [p for p in train_logs if p.is_file()]
            out.append(Missing(dataset, "train", failed[0] if failed else None,
                               f"{len(runs)} run(s) without logs: " + ", ".join(f"`{r.name}` seed {r.seed}" for r in runs[:6])
                               + (" ..." if len(runs) > 6 else "") + (f"; {last_error(failed[0])}" if failed else "")))
    return out


def missing_lines(entries: list[Missing]) -> list[str]:
    """Markdown bullets: the dataset, the stage that stopped it, its log and the log's error."""
    return [f"`{m.dataset}`: stopped at **{m.stage}**" + (f" (log `{m.log}`)" if m.log else "")
            + (f": {m.error}" if m.error else "") for m in entries]
