"""DVC as a user drives it: experiments on a profile, compared by `dvc exp show`, `metrics diff`, `plots diff`.

The project is copied to a temporary git repository and given a `tiny` profile (base: smoke, two methods,
one epoch, no sweeps, no pretrain stage) so that two experiments take about a minute.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from smartmining.dvc_metrics import split_metrics
from smartmining.errors import SmartMiningError
from test_pipeline import ROOT, make_project

TINY = """
  # added by tests/test_dvc.py
  tiny:
    base: smoke
    methods: [random, smart]
    sweeps: {kappa: {values: []}, mined_fraction: {values: []}, kappa0: {values: []}}
    model: {init: scratch}
    train: {epochs: 1}
"""


COMMITTED_REPORT = "# a report committed before the experiments\n"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def dvc(cwd: Path, *args: str) -> str:
    proc = run(cwd, "dvc", *args)
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("dvc"))
    shutil.copy2(ROOT / "experiment.yaml", project / "experiment.yaml")
    # as in the project: results/ is versioned by git, and a profile's results may be committed (cpu, omniglot)
    (project / ".gitignore").write_text("/data/\n/runs/\n/logs/\n.snakemake/\n__pycache__/\n*.egg-info/\n")
    committed = project / "results" / "tiny" / "REPORT.md"
    committed.parent.mkdir(parents=True)
    committed.write_text(COMMITTED_REPORT)
    with (project / "params.yaml").open("a") as fh:
        fh.write(TINY)
    run(project, "git", "init", "-q")
    run(project, "git", "config", "user.email", "test@example.com")
    run(project, "git", "config", "user.name", "test")
    dvc(project, "init", "-q")
    dvc(project, "config", "core.analytics", "false")
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "project")
    return project


@pytest.mark.slow
def test_two_experiments_compare_and_an_inherited_key_reruns_the_stage(repo: Path) -> None:
    params = repo / "params.yaml"
    written = params.read_bytes()
    dvc(repo, "exp", "run", "-S", "experiment.yaml:dvc_profile=tiny", "-n", "first")
    assert params.read_bytes() == written  # -S rewrote the selector file only
    assert "dvc_profile: tiny" in (repo / "experiment.yaml").read_text()
    assert "up to date" in dvc(repo, "status")
    # the committed report is overwritten, not refused ("already tracked by SCM") and still tracked by git
    assert (repo / "results" / "tiny" / "REPORT.md").read_text() != COMMITTED_REPORT
    assert run(repo, "git", "ls-files", "results/tiny/REPORT.md").stdout.strip() == "results/tiny/REPORT.md"

    # tiny inherits loss.margin from cpu through smoke: changing it on cpu must rerun the stage
    # (not train.lr: each method's learning rate is chosen by the tuning runs)
    old_margin = "      margin: 0.2                 # [paper]\n"
    assert old_margin in written.decode()
    params.write_text(written.decode().replace(old_margin, "      margin: 0.35\n", 1))
    status = dvc(repo, "status")
    assert "pipeline" in status and "modified" in status and "profiles" in status, status
    dvc(repo, "exp", "run", "-n", "second")
    log = (repo / "logs" / "tiny" / "train" / "glyphs" / "smart" / "seed0.log").read_text()
    assert "epoch 1:" in log and "faiss.loader" not in log

    shown = run(repo, "dvc", "exp", "show", "--only-changed", "--csv").stdout.splitlines()
    assert "results/tiny/metrics/glyphs/smart.json:recall@1" in shown[0].split(","), shown[0]
    lr = {line.split(",")[0]: line.split(",") for line in shown[1:]}
    assert {"first", "second"} <= set(lr), shown
    assert "0.35" not in lr["first"] and "0.35" in lr["second"]
    diff = json.loads(dvc(repo, "metrics", "diff", "first", "second", "--json"))
    changed = {path: values for path, values in diff.items() if values}
    assert "results/tiny/metrics/glyphs/smart.json" in changed, diff
    assert any(v["diff"] != 0 for v in changed["results/tiny/metrics/glyphs/smart.json"].values())
    params_diff = dvc(repo, "params", "diff", "first", "second")
    assert "profiles.cpu.loss.margin" in params_diff and "0.2" in params_diff and "0.35" in params_diff
    dvc(repo, "plots", "diff", "first", "second", "-o", "plots")
    page = (repo / "plots" / "index.html").read_text()
    assert "first" in page and "second" in page
    # REPORT.md is versioned with each experiment too
    dvc(repo, "exp", "apply", "first")
    assert old_margin in params.read_text()
    assert (repo / "results" / "tiny" / "REPORT.md").stat().st_size > 200


@pytest.mark.slow
def test_metrics_show_is_a_table_with_a_row_per_method(repo: Path) -> None:
    if not (repo / "results" / "tiny" / "metrics").is_dir():
        dvc(repo, "exp", "run", "-S", "experiment.yaml:dvc_profile=tiny")
    lines = dvc(repo, "metrics", "show").splitlines()
    header = lines[0].split()
    assert header == ["Path", "map@r", "nmi", "recall@1", "recall@8"], lines
    rows = {line.split()[0] for line in lines[1:] if line.strip()}
    assert {"results/tiny/metrics/glyphs/random.json", "results/tiny/metrics/glyphs/smart.json",
            "results/tiny/metrics/glyphs/untrained.json"} <= rows


def test_split_metrics_gives_one_file_per_dataset_and_method() -> None:
    nested = {"glyphs": {"random": {"recall@1": 0.5, "nmi": 0.4}, "smart+global": {"recall@1": 0.6, "nmi": 0.5}}}
    assert split_metrics(nested) == {"glyphs/random.json": {"recall@1": 0.5, "nmi": 0.4},
                                     "glyphs/smart+global.json": {"recall@1": 0.6, "nmi": 0.5}}
    with pytest.raises(SmartMiningError, match="expected"):
        split_metrics({"glyphs": 0.5})
