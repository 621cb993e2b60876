"""The regime the runs were made in, from each run's provenance.json: device, weights, epochs, commit; and
whether that is the paper's protocol, without which a difference from a published number means little."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from smartmining.runs import Run

PAPER_EPOCHS = 20  # [paper] PAPER.md section 7
REGIME_COLUMNS = ["dataset", "run", "seed", "device", "device_name", "epochs", "pretrained", "init", "commit"]


def read_regime(runs_dir: Path, runs: list[Run]) -> pd.DataFrame:
    """One row per run with a provenance.json (runs without one are left out)."""
    rows = []
    for run in runs:
        path = Path(runs_dir) / run.folder / "provenance.json"
        try:
            p = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        rows.append((run.dataset, run.name, run.seed, str(p.get("device", "")), str(p.get("device_name") or p.get("device", "")),
                     p.get("epochs"), p.get("pretrained"), p.get("init"), str(p.get("git_commit") or "unknown")))
    return pd.DataFrame(rows, columns=REGIME_COLUMNS)


def weights(pretrained: object, init: object) -> str:
    if init == "pretrain":
        return "the pretrain stage's backbone (source classes), not ImageNet"
    if pretrained is True:
        return "ImageNet (torchvision)"
    if isinstance(pretrained, str) and pretrained:
        return f"ImageNet from {pretrained}"
    return "random initialisation"


def regime_gaps(regime: pd.DataFrame, dataset: str) -> list[str]:
    """How the dataset's runs depart from the paper's protocol (ImageNet weights, 20 epochs, a GPU); empty
    when they do not."""
    sel = regime[regime["dataset"] == dataset]
    if sel.empty:
        return ["no provenance.json says how the runs were made"]
    gaps = []
    kinds = {weights(p, i) for p, i in zip(sel["pretrained"], sel["init"])}
    if not all(k.startswith("ImageNet") for k in kinds):
        gaps.append(" and ".join(sorted(k for k in kinds if not k.startswith("ImageNet"))) + " instead of ImageNet weights")
    epochs = sorted({int(e) for e in sel["epochs"].dropna()})
    if epochs != [PAPER_EPOCHS]:
        gaps.append(f"{'/'.join(map(str, epochs)) or 'unknown'} epochs instead of the paper's {PAPER_EPOCHS}")
    if not all(d.startswith("cuda") for d in sel["device"]):
        gaps.append("runs on the CPU, not a GPU")
    return gaps


def caveat(regime: pd.DataFrame, dataset: str) -> str | None:
    """The sentence that marks the columns beside the published numbers, or None for the paper's protocol."""
    gaps = regime_gaps(regime, dataset)
    if not gaps:
        return None
    return ("**Caveat (\\*): not the paper's protocol** (" + "; ".join(gaps) + "): the published numbers and "
            "the differences from them are context, not a test of the replication.")


def setup_lines(regime: pd.DataFrame, dataset: str) -> list[str]:
    """Device, weights, epochs and commit of the dataset's runs, as the setup section states them."""
    sel = regime[regime["dataset"] == dataset]
    if sel.empty:
        return ["No provenance.json: device, weights, epochs and commit are unknown."]

    def counted(values: pd.Series) -> str:
        counts = values.astype(str).value_counts()
        return ", ".join(f"{v} ({n} runs)" if len(counts) > 1 else v for v, n in counts.items())

    return [f"Device: {counted(sel['device_name'])}. Weights: "
            f"{counted(pd.Series([weights(p, i) for p, i in zip(sel['pretrained'], sel['init'])]))}. "
            f"Epochs: {counted(sel['epochs'])}. Commit: {counted(sel['commit'].str[:12])}."]
