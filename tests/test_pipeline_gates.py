"""What the pipeline does when a dataset fails or cannot work, and how many jobs share the machine: one
dataset's failure leaves the others trained and reported; a doomed profile stops at the check rule before
any training; jobs never outnumber the CPUs (or the visible GPUs) whatever --cores says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from smartmining.machine import machine_cpus
from test_pipeline import ROOT, make_project, snakemake


def new_project(where: Path) -> Path:
    where.mkdir(parents=True)
    return make_project(where)


def write_params(project: Path, name: str, profile: dict) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["profiles"][name] = profile
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


TINY = {  # one method, one seed, one epoch, no sweeps: the pipeline's every stage in about a minute
    "base": "smoke", "methods": ["random"], "seeds": [0], "train": {"epochs": 1, "warmup_epochs": 0},
    "sweeps": {"kappa": {"values": []}, "mined_fraction": {"values": []}, "kappa0": {"values": []}},
    "model": {"init": "scratch"},
}


def image_folder(root: Path, classes: int, per_class: int) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        for i in range(per_class):
            path = root / f"class{c:02d}" / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(path)
    return root


@pytest.mark.slow
def test_one_datasets_failure_leaves_the_other_trained_and_the_report_names_it(tmp_path: Path) -> None:
    project = new_project(tmp_path / "p")
    absent = tmp_path / "no-such-folder"
    write_params(project, "two", {**TINY, "datasets": ["glyphs", "imagefolder"],
                                  "data": {"imagefolder": {"source": str(absent), "val_classes": 0}}})
    proc = snakemake(project, "all", "--config", "profile=two", check=False)
    assert proc.returncode != 0  # the failure is not hidden
    assert (project / "runs/two/glyphs/random/seed0/eval.json").is_file()  # glyphs trained and evaluated all the same
    report = (project / "results/two/REPORT.md").read_text()
    section = report[report.index("## Missing from this report"):]
    assert "`imagefolder`: stopped at **prepare** (log `logs/two/prepare/imagefolder.log`)" in section
    assert str(absent) in section  # the log's error line: why
    assert "## glyphs" in report and "## imagefolder" not in report


@pytest.mark.slow
def test_a_profile_without_validation_classes_stops_at_the_check_before_any_training(tmp_path: Path) -> None:
    project = new_project(tmp_path / "p")
    photos = image_folder(tmp_path / "photos", classes=8, per_class=6)
    write_params(project, "mine", {"base": "cpu", "datasets": ["imagefolder"], "seeds": [0],
                                   "data": {"imagefolder": {"source": str(photos)}},
                                   "model": {"init": "scratch"}, "transform": {"size": 16}})
    proc = snakemake(project, "all", "--config", "profile=mine", check=False)
    assert proc.returncode != 0
    log = (project / "logs/mine/check/imagefolder.log").read_text()
    assert "data.imagefolder.val_classes" in log and "tuning runs" in log
    assert "mining.k = 200" in log  # every problem at once, each naming its key
    assert not (project / "logs/mine/train").exists()  # no training job started
    assert not (project / "runs/mine").exists()


@pytest.mark.slow
def test_an_edit_that_dooms_a_prepared_profile_stops_before_any_job(tmp_path: Path) -> None:
    project = new_project(tmp_path / "p")
    write_params(project, "tiny", {**TINY, "datasets": ["glyphs"]})
    snakemake(project, "results/tiny/checked/glyphs.json", "--config", "profile=tiny")  # prepared and checked
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["profiles"]["tiny"]["train"]["batch_triplets"] = 1000
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = snakemake(project, "-n", "all", "--config", "profile=tiny", check=False)
    assert proc.returncode != 0
    assert "train.batch_triplets = 1000 exceeds" in proc.stdout + proc.stderr


GATE_SNAKEFILE = """
from smartmining.config import load_params
configfile: "workflow/config.yaml"
PROFILE = load_params("params.yaml", config.get("profile"))
PROFILE_NAME = PROFILE["profile"]
include: "workflow/rules/common.smk"
rule all:
    input: expand("spans/{i}.txt", i=range(6))
rule job:
    output: "spans/{i}.txt"
    threads: job_threads("train")
    resources: **job_resources("train")
    shell: "python -c 'import time; print(time.time())' > {output}.tmp; sleep 1.5; python -c 'import time; print(time.time())' >> {output}.tmp; mv {output}.tmp {output}"
"""


def most_at_once(folder: Path) -> int:
    spans = [tuple(map(float, p.read_text().split())) for p in folder.glob("*.txt")]
    return max(sum(s <= t < e for s, e in spans) for t, _ in spans)


def run_gate(tmp_path: Path, cores: str, train: dict, env: dict[str, str]) -> int:
    project = new_project(tmp_path)
    (project / "Snakefile").write_text(GATE_SNAKEFILE)
    write_params(project, "gate", {"base": "smoke", "resources": {"train": train}})
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", cores, "all", "--config", "profile=gate"],
                          cwd=project, capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return most_at_once(project / "spans")


@pytest.mark.skipif(machine_cpus() < 2, reason="needs 2 CPUs to see jobs side by side")
def test_cores_above_the_machines_cpus_do_not_oversubscribe_it(tmp_path: Path) -> None:
    assert run_gate(tmp_path / "a", "8", {"threads": 1}, {}) == min(machine_cpus(), 6)


@pytest.mark.skipif(machine_cpus() < 2, reason="needs 2 CPUs to see that the GPU, not the CPUs, limits")
def test_gpu_jobs_never_outnumber_the_visible_devices(tmp_path: Path) -> None:
    assert run_gate(tmp_path / "one", "16", {"threads": 1, "gpu": 1}, {"CUDA_VISIBLE_DEVICES": "0"}) == 1
    assert run_gate(tmp_path / "two", "16", {"threads": 1, "gpu": 1}, {"CUDA_VISIBLE_DEVICES": "0,1"}) == 2


def test_a_dry_run_on_one_visible_gpu_gives_each_paper_training_job_the_gpu_and_the_threads_it_may_use(
        tmp_path: Path) -> None:
    project = make_project(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "16", "all", "--config", "profile=paper"],
                          cwd=project, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    shells = [x for x in proc.stdout.splitlines() if x.startswith("Shell command: smartmining train")]
    assert shells and all(f"--threads {min(8, machine_cpus())} " in x for x in shells)  # 8 asked, capped at the CPUs
    blocks = proc.stdout.split("rule train:")[1:]
    assert all(f"gpu=1, cpus={min(8, machine_cpus())}" in b.split("Shell command")[0] for b in blocks)


def test_a_gpu_profile_without_a_visible_gpu_warns_before_it_starts(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "all", "--config", "profile=paper"],
                          cwd=project, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0
    assert "asks for a GPU per job" in proc.stderr and "none is visible" in proc.stderr
