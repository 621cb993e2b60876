"""The pipeline as a user runs it: Snakemake on the smoke profile, dry runs of the others, bad params."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from smartmining.config import load_params
from smartmining.fingerprint import code_digest, digest
from smartmining.runs import profile_runs, resolve, run_profile

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "profiles", "workflow", "params.yaml", "dvc.yaml", "experiment.yaml", "src")


def make_project(dest: Path) -> Path:
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_symlink():
            (dest / name).symlink_to(os.readlink(src))
        elif src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned_jobs(cwd: Path, *args: str) -> dict[str, int]:
    """Job counts by rule from a dry run's summary table."""
    out = snakemake(cwd, "-n", *args).stdout
    counts: dict[str, int] = {}
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("job ") and "count" in line)
    for line in lines[start + 2:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def interrupt_when_evaluated(project: Path, timeout: float = 600) -> dict[Path, int]:
    """Start the smoke pipeline, interrupt it as Ctrl-C does (SIGINT to its process group) once a run is evaluated.

    Returns the modification times (ns) of the outputs of the runs that were complete by then.
    """
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "all", "--config", "profile=smoke"]
    proc = subprocess.Popen(cmd, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if list((project / "runs").rglob("eval.json")):
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # A run with eval.json has a finished training job (evaluate starts only after it); eval.json itself may
    # have been written just before Snakemake could record its job as complete, so it may rightly be redone.
    done = [p.parent for p in (project / "runs").rglob("eval.json")]
    return {f: f.stat().st_mtime_ns for d in done for f in d.iterdir() if f.is_file() and f.name != "eval.json"}


@pytest.fixture(scope="module")
def interrupted_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, int]]:
    project = make_project(tmp_path_factory.mktemp("project"))
    before = interrupt_when_evaluated(project)
    snakemake(project, "all", "--config", "profile=smoke")
    return project, before


@pytest.fixture(scope="module")
def smoke_project(interrupted_project: tuple[Path, dict[Path, int]]) -> Path:
    return interrupted_project[0]


@pytest.mark.slow
def test_an_interrupted_pipeline_finishes_without_redoing_completed_jobs(
    interrupted_project: tuple[Path, dict[Path, int]]
) -> None:
    project, before = interrupted_project
    assert before, "the pipeline was killed before any run completed"
    changed = [str(f) for f, mtime in before.items() if f.stat().st_mtime_ns != mtime]
    assert changed == []
    cfg = load_params(ROOT / "params.yaml", "smoke")
    for run in profile_runs(cfg):  # every run complete: all its epochs (and epoch 0), nothing partial accepted
        epochs = (project / "runs" / "smoke" / run.folder / "epochs.csv").read_text().strip().splitlines()
        assert len(epochs) == 2 + cfg["train"]["epochs"]
    assert not list(project.rglob("*.tmp"))


@pytest.mark.slow
def test_smoke_profile_runs_end_to_end_and_writes_tables_and_figures(smoke_project: Path) -> None:
    results = smoke_project / "results" / "smoke"
    assert (results / "REPORT.md").stat().st_size > 500
    assert list(results.rglob("*.png")) and list(results.rglob("*.csv"))
    cfg = load_params(ROOT / "params.yaml", "smoke")
    for run in profile_runs(cfg):
        folder = smoke_project / "runs" / "smoke" / run.folder
        for name in ("epochs.csv", "metrics.json", "eval.json", "test_embeddings.npy", "provenance.json"):
            assert (folder / name).exists(), folder / name
    assert (smoke_project / "logs" / "smoke" / "report.log").exists()


@pytest.mark.slow
def test_a_second_run_does_nothing(smoke_project: Path) -> None:
    # how quickly is measured by benchmarks/bench_pipeline.py, not here
    proc = snakemake(smoke_project, "all", "--config", "profile=smoke")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_changing_one_methods_parameter_reruns_only_its_runs(smoke_project: Path) -> None:
    snakemake(smoke_project, "all", "--config", "profile=smoke")  # up to date, whatever ran in the project before
    params = yaml.safe_load((smoke_project / "params.yaml").read_text())
    params["profiles"]["smoke"]["train"]["semihard_per_class"] = 3  # read by semi-hard runs only
    (smoke_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        counts = planned_jobs(smoke_project, "all", "--config", "profile=smoke")
    finally:
        shutil.copy2(ROOT / "params.yaml", smoke_project / "params.yaml")
    # semi-hard's tuning run, then select and what follows its checkpoint (the final semi-hard run; the dry run
    # cannot list jobs past a checkpoint that reruns), the report; nothing upstream
    assert counts.get("train") == 1 and counts.get("select") == 1 and counts.get("report") == 1
    assert not {"prepare", "check", "pretrain", "baseline", "pretrained_baseline"} & set(counts)


def test_dry_runs_of_the_cpu_and_paper_profiles_list_the_expected_jobs(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    for profile in ("cpu", "paper", "omniglot"):
        cfg = load_params(ROOT / "params.yaml", profile)
        # a fresh clone holds the committed report (every file of it): the pipeline still runs and rewrites it
        committed = project / "results" / profile
        for name in ("REPORT.md", "summary.csv", "curves.csv", "metrics.json", "recall_at_1.csv", "readings.json",
                     "STAMP.json", *(f"readings_{d}.md" for d in cfg["datasets"]), "figures/fig.png", "tables/t.csv"):
            (committed / name).parent.mkdir(parents=True, exist_ok=True)
            (committed / name).write_text("committed\n")
        matrix = len(cfg["datasets"]) * len(cfg["methods"]) * len(cfg["seeds"])
        tuning = len(cfg["datasets"]) * len(cfg["methods"]) * cfg["tuning"]["runs_per_method"] * len(cfg["tuning"]["seeds"])
        sweeps = len(cfg["datasets"]) * sum(
            len(s["values"]) * len(s["seeds"]) * (len(s["method"]) if isinstance(s["method"], list) else 1)
            for s in cfg["sweeps"].values()
        )
        assert len(profile_runs(cfg)) == matrix + tuning + sweeps
        counts = planned_jobs(project, "all", "--config", f"profile={profile}")
        # select is a checkpoint: the dry run lists the tuning runs; the final runs and sweeps follow its choices
        assert counts["train"] == tuning == len(profile_runs(cfg, kinds=("tuning",)))
        assert counts.get("evaluate", 0) == 0  # the report's inputs, known once select has chosen
        assert counts["prepare"] == len(cfg["datasets"]) and counts["report"] == 1
        assert counts["select"] == len(cfg["datasets"])  # hyperparameters chosen on validation classes
        assert counts.get("pretrain", 0) == (len(cfg["datasets"]) if cfg["model"]["init"] == "pretrain" else 0)
        assert counts["baseline"] == len(cfg["datasets"]) * len(cfg["seeds"])  # per seed: each redraws the split
        assert counts.get("features", 0) == (len(cfg["datasets"]) if cfg["model"].get("cache_frozen") else 0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p["profiles"]["cpu"].update(unknown_key=1), "unknown_key"),
        (lambda p: p["profiles"]["cpu"]["train"].update(epochs=-1), "train.epochs"),
        (lambda p: p["profiles"]["cpu"].update(methods=["random", "magic"]), "'magic' is not one of"),
    ],
)
def test_a_bad_params_yaml_stops_the_pipeline_with_a_message_naming_it(tmp_path: Path, mutate, message: str) -> None:
    project = make_project(tmp_path)
    params = yaml.safe_load((project / "params.yaml").read_text())
    mutate(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    proc = snakemake(project, "-n", "all", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_run_cache_keys_depend_only_on_what_the_run_reads() -> None:
    cfg = load_params(ROOT / "params.yaml", "cpu")
    other = load_params(ROOT / "params.yaml", "cpu", ["mining.kappa=2.5", "controller.target_error=0.6",
                                                       "controller.kappa0=3"])
    values = {"train.lr": 0.001, "train.mined_fraction": 0.5, "mining.kappa": 2.0, "controller.target_error": 0.5}
    chosen = {"methods": {m: {"chosen": values} for m in cfg["methods"]}}
    key = lambda c, m, s=chosen: digest(resolve(c, "glyphs", m, s).key)  # noqa: E731
    assert key(cfg, "random") == key(other, "random")
    assert key(cfg, "semihard") == key(other, "semihard")
    assert key(cfg, "smart") == key(other, "smart")  # the selected kappa, not the profile's, is trained with
    changed = {"methods": {**chosen["methods"], "smart": {"chosen": {**values, "mining.kappa": 4.0}}}}
    assert key(cfg, "smart", changed) != key(cfg, "smart")
    assert key(cfg, "smart+global", changed) == key(cfg, "smart+global")  # another method's choice: no rerun
    assert key(cfg, "sweep-kappa-4") == key(other, "sweep-kappa-4")  # the sweep sets kappa itself
    target = load_params(ROOT / "params.yaml", "cpu", ["controller.target_error=0.6"])
    assert key(cfg, "smart+global+adaptive") == key(target, "smart+global+adaptive")  # the target is tuned too
    assert key(cfg, "smart+global+adaptive") != key(other, "smart+global+adaptive-paper")
    assert key(cfg, "smart+global+adaptive") != key(other, "smart+global+adaptive")  # kappa0 3 vs 2
    assert key(cfg, "sweep-kappa0-4") == key(other, "sweep-kappa0-4")  # the sweep sets kappa0 itself
    spec, full = run_profile(cfg, "sweep-kappa0-16_smart+global+adaptive-paper", chosen)
    assert spec.name == "smart+global+adaptive-paper" and full["controller"]["kappa0"] == 16


def test_code_digest_changes_with_the_code_it_covers() -> None:
    assert code_digest("report") != code_digest("training")
    assert len(code_digest()) == 16
    assert code_digest(exclude=("report",)) not in (code_digest(), code_digest("report"))
    assert code_digest("training", exclude=("report",)) == code_digest("training")


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_dvc_repro_after_snakemake_retrains_nothing_and_shows_params_metrics_and_plots(smoke_project: Path) -> None:
    params_file = smoke_project / "experiment.yaml"  # DVC's selector: which profile `dvc repro` builds
    original = params_file.read_text()
    params_file.write_text(original.replace("\ndvc_profile: cpu\n", "\ndvc_profile: smoke\n"))
    outputs = {p: p.stat().st_mtime_ns for p in (smoke_project / "runs").rglob("metrics.json")}
    try:
        dvc(smoke_project, "init", "--no-scm", "-q")
        dvc(smoke_project, "config", "core.analytics", "false")
        first = dvc(smoke_project, "repro")
        assert "Nothing to be done" in first.stdout + first.stderr  # Snakemake found everything done
        assert {p: p.stat().st_mtime_ns for p in outputs} == outputs
        rerun = snakemake(smoke_project, "-n", "all", "--config", "profile=smoke")  # what DVC ran, by hand
        assert "Nothing to be done" in rerun.stdout + rerun.stderr
        again = dvc(smoke_project, "repro")
        assert "didn't change" in again.stdout + again.stderr or "up to date" in again.stdout + again.stderr
        assert "recall@1" in dvc(smoke_project, "metrics", "show").stdout
        lock = (smoke_project / "dvc.lock").read_text()  # what `dvc params diff` compares against
        assert "dvc_profile: smoke" in lock and "profiles:" in lock
        dvc(smoke_project, "plots", "show", "-o", "plots")
        assert (smoke_project / "plots" / "index.html").stat().st_size > 1000
    finally:
        params_file.write_text(original)


def test_the_root_snakefile_applies_the_default_settings_and_pins_the_profile(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    proc = snakemake(project, "-n", "all", "--config", "profile=smoke")
    assert "profiles/default" in proc.stdout + proc.stderr  # the workflow profile was loaded from the root
    # a target naming another profile than the configured one is not built with this one's parameters
    other = snakemake(project, "-n", "runs/cpu/glyphs/random/seed0/metrics.json", "--config", "profile=smoke", check=False)
    assert other.returncode != 0
    assert "runs/cpu/glyphs/random/seed0/metrics.json" in other.stdout + other.stderr


def test_snakemake_lint_is_clean(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    proc = snakemake(project, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_the_snakemake_report_holds_every_figure_and_table_of_report_md(smoke_project: Path) -> None:
    project = smoke_project  # the finished smoke pipeline: Snakemake's own report of it
    snakemake(project, "--config", "profile=smoke", "--report", "report.zip")
    report_md = (project / "results" / "smoke" / "REPORT.md").read_text()
    figures = set(re.findall(r"figures/([A-Za-z0-9_]+\.png)", report_md))
    assert len(figures) >= 5, figures
    with zipfile.ZipFile(project / "report.zip") as archive:
        names = {Path(n).name for n in archive.namelist()}
        html = "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist() if n.endswith(".html"))
    assert figures <= names, sorted(figures - names)
    tables = {p.name for p in (project / "results" / "smoke" / "tables").glob("*.csv")}
    assert tables and tables <= names, sorted(tables - names)
    assert "Figures" in html and "Tables" in html  # the categories the rule's report() marks give
