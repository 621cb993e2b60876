"""The cluster path for real: the README's commands through SLURM's executor plugin on a one-node cluster.

The cluster (munge, MariaDB, slurmdbd, slurmctld, slurmd) comes from ``tools/slurm-local/up``, which needs
root and installs Debian's packages when missing; a session fixture brings it up and down. The smoke
profile runs on it as the README's "Running on a cluster" says, with the user profile written there, and
is compared with a local run of the same profile. No GPU: the GPU request is checked by a dry run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from smartmining.config import load_params
from smartmining.runs import profile_runs
from test_pipeline import make_project, planned_jobs, snakemake

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools" / "slurm-local"
PROFILE = "smoke"
# Status checks every few seconds instead of the plugin's 40 s (a real cluster's slurmdbd would thank us)
FAST = ["--slurm-init-seconds-before-status-checks", "2"]
SACCT_FIELDS = ("JobIDRaw", "State", "Partition", "Account", "ReqMem", "Timelimit", "ReqCPUS", "WorkDir", "Comment")

# --- the README's cluster section -----------------------------------------------------------------
def cluster_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("### Running on a cluster")
    return text[start:text.index("\n## ", start)]


def readme_user_profile() -> tuple[str, str]:
    """(the path the README gives, the YAML it shows) of the user's own profile."""
    block = re.search(r"```yaml\n(.*?)```", cluster_section(), re.S)
    assert block, "the README's cluster section shows no user profile"
    path = block.group(1).splitlines()[0].lstrip("# ").strip()
    return path, block.group(1)


def readme_command(profile: str) -> list[str]:
    """The README's `snakemake ... --config profile=<profile>` line, as argv for this Python."""
    for block in re.findall(r"```bash\n(.*?)```", cluster_section(), re.S):
        for line in block.splitlines():
            args = shlex.split(line, comments=True)
            if args[:2] == ["snakemake", "all"] and f"profile={profile}" in args:
                return [sys.executable, "-m", "snakemake", *args[1:]]
    raise AssertionError(f"the README's cluster section has no `snakemake all ... profile={profile}` command")


# --- the cluster ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def slurm_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of a user of the local cluster, with the README's user profile installed."""
    if os.geteuid() != 0:
        pytest.fail("the SLURM tests start a local cluster with tools/slurm-local/up, which must run as root "
                    "(it installs slurm-wlm, munge and mariadb-server with apt-get and starts their daemons)")
    proc = subprocess.run([str(TOOLS / "up")], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"tools/slurm-local/up failed (exit {proc.returncode}):\n{proc.stderr[-5000:]}")
    started = "already up" not in proc.stderr
    conf = re.search(r"export SLURM_CONF=(\S+)", proc.stdout)
    assert conf, proc.stdout
    config_home = tmp_path_factory.mktemp("config-home")
    where, text = readme_user_profile()
    assert where.startswith("~/.config/"), where
    user_profile = config_home / where.removeprefix("~/.config/")
    user_profile.parent.mkdir(parents=True)
    user_profile.write_text(text)
    env = {**os.environ, "SLURM_CONF": conf.group(1), "XDG_CONFIG_HOME": str(config_home)}
    try:
        yield env
    finally:
        if started:
            subprocess.run([str(TOOLS / "down")], capture_output=True, text=True, timeout=300)


def sacct(env: dict[str, str], project: Path) -> list[dict[str, str]]:
    """Every job submitted from `project`, from the accounting database."""
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "--starttime", "now-7days", "-o", ",".join(SACCT_FIELDS)],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    jobs = [dict(zip(SACCT_FIELDS, line.split("|"))) for line in out.splitlines() if line]
    here = os.path.realpath(project)
    return [j for j in jobs if os.path.realpath(j["WorkDir"]) == here]


def rule_of(job: dict[str, str]) -> str:
    """The rule of a submitted job, from the comment the plugin gives it (rule_<rule>_wildcards_<values>)."""
    match = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", job["Comment"])
    assert match, job
    return match.group(1)


def train_comment(run_dir: Path, runs: Path) -> str:
    """The plugin's comment of the training job writing `run_dir` (runs/<profile>/<dataset>/<run>/seed<S>)."""
    parts = list(run_dir.relative_to(runs).parts)
    parts[-1] = parts[-1].removeprefix("seed")
    return "rule_train_wildcards_" + "_".join(parts)


# --- running Snakemake ----------------------------------------------------------------------------
class Run:
    """Snakemake in its own process group, its output in a file of the project."""

    def __init__(self, project: Path, env: dict[str, str], argv: list[str], name: str) -> None:
        self.log = project / f"{name}.out"
        with self.log.open("w") as fh:
            self.proc = subprocess.Popen(argv, cwd=project, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def output(self) -> str:
        return self.log.read_text()

    def interrupt(self) -> None:
        """As Ctrl-C does: SIGINT to the process group. Snakemake was once seen to go on scheduling after it
        (cause not found), so, as a user would, press Ctrl-C again if it is still running after a minute."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
            return
        except subprocess.TimeoutExpired:
            with self.log.open("a") as fh:
                fh.write("\n[test] no exit 60 s after SIGINT: Ctrl-C again\n")
            os.killpg(self.proc.pid, signal.SIGINT)
        self.wait(120)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"snakemake did not finish within {timeout:.0f} s:\n{self.output()[-5000:]}")


class Canceller(threading.Thread):
    """`scancel`s a training job mid-training: once its run has written a checkpoint in this attempt.

    A job that finishes between the checkpoint and the cancel is no test of a kill; the next running
    training job is tried then, until one is cancelled while it ran.
    """

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.project, self.env = project, env
        self.stop = threading.Event()
        self.cancelled: tuple[str, Path] | None = None  # (SLURM job id, run folder)
        self.too_late: list[str] = []

    def running_train_jobs(self) -> dict[str, str]:
        out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], env=self.env,
                             capture_output=True, text=True, timeout=30).stdout
        return {c: i for i, c in (line.split("|", 1) for line in out.splitlines() if "|" in line)
                if c.startswith("rule_train_")}

    def final_state(self, jobid: str) -> str:
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            out = subprocess.run(["sacct", "-X", "-P", "-n", "-j", jobid, "-o", "State"], env=self.env,
                                 capture_output=True, text=True, timeout=30).stdout.split()
            state = out[0] if out else ""
            if state and state not in ("RUNNING", "PENDING", "COMPLETING"):
                return state
            time.sleep(0.5)
        return state

    def run(self) -> None:
        runs = self.project / "runs"
        first_seen: dict[str, float] = {}
        tried: set[str] = set()
        while not self.stop.is_set() and self.cancelled is None:
            jobs = self.running_train_jobs()
            now = time.time()
            for jobid in jobs.values():
                first_seen.setdefault(jobid, now)
            for ckpt in runs.glob("*/*/*/seed*/checkpoint.pt"):
                comment = train_comment(ckpt.parent, runs)
                jobid = jobs.get(comment)
                if jobid is None or jobid in tried or (ckpt.parent / "metrics.json").exists():
                    continue
                try:
                    if ckpt.stat().st_mtime <= first_seen[jobid]:
                        continue  # the checkpoint of an earlier attempt: this one has not trained yet
                except FileNotFoundError:
                    continue
                tried.add(jobid)
                subprocess.run(["scancel", jobid], env=self.env, check=True, timeout=30)
                if self.final_state(jobid).startswith("CANCELLED"):
                    self.cancelled = (jobid, ckpt.parent)
                else:
                    self.too_late.append(jobid)
                break
            time.sleep(0.05)


def finished_training(output: str) -> list[list[str]]:
    """The outputs of the training jobs a Snakemake output reports finished."""
    outputs = {jobid: paths.split(", ") for paths, jobid in
               re.findall(r"^rule train:\n(?:    input: .*\n)?    output: (.*)\n(?:    .*\n)*?    jobid: (\d+)", output, re.M)}
    return [outputs[j] for j in re.findall(r"^Finished jobid: (\d+) \(Rule: train\)", output, re.M)]


# --- the runs the tests look at -------------------------------------------------------------------
def results(project: Path) -> dict[str, dict]:
    """Every metrics file of a project's runs and report, by path."""
    files = [*(project / "runs").rglob("metrics.json"), *(project / "runs").rglob("eval.json"),
             *(project / "results").rglob("metrics.json")]
    return {str(f.relative_to(project)): json.loads(f.read_text()) for f in files}


@pytest.fixture(scope="module")
def local_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("local"))
    snakemake(project, "all", "--config", f"profile={PROFILE}")
    return project


@pytest.fixture(scope="module")
def cluster_run(slurm_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The README's smoke command on the cluster: interrupted (Ctrl-C) once a run is evaluated, run again
    to the end while one training job is `scancel`ed mid-training."""
    project = make_project(tmp_path_factory.mktemp("cluster"))
    plan = planned_jobs(project, "all", "--config", f"profile={PROFILE}")
    argv = readme_command(PROFILE) + FAST

    first = Run(project, slurm_env, argv, "first")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.proc.poll() is None and not finished_training(first.output()):
        time.sleep(0.2)
    if first.proc.poll() is not None:
        raise AssertionError(f"snakemake ended before a training job finished:\n{first.output()[-6000:]}")
    interrupted = datetime.now().replace(microsecond=0)
    first.interrupt()
    run_id = re.search(r"SLURM run ID: (\S+)", first.output()).group(1)
    left = subprocess.run(["squeue", "-h", f"--name={run_id}", "-t", "PENDING,RUNNING", "-o", "%i|%V"], env=slurm_env,
                          capture_output=True, text=True, check=True).stdout.split()
    # what the README says to do about jobs submitted in the moment of the Ctrl-C, which escape it
    subprocess.run(["scancel", f"--name={run_id}"], env=slurm_env, check=True)
    # the outputs of the training jobs Snakemake saw finish (one that finished unseen is rightly redone)
    before = {f: f.stat().st_mtime_ns for out in finished_training(first.output()) for f in map(project.joinpath, out)}

    canceller = Canceller(project, slurm_env)
    canceller.start()
    second = Run(project, slurm_env, argv, "second")
    rc = second.wait(900)
    canceller.stop.set()
    canceller.join(timeout=120)
    assert rc == 0, second.output()[-6000:]
    return {"project": project, "plan": plan, "first": first.output(), "second": second.output(),
            "left_in_queue": [(j, datetime.fromisoformat(t)) for j, t in (x.split("|") for x in left)],
            "interrupted": interrupted, "before": before,
            "jobs": sacct(slurm_env, project), "canceller": canceller}


# --- the tests ------------------------------------------------------------------------------------
@pytest.mark.slurm
def test_the_smoke_profile_runs_through_sbatch_and_matches_a_local_run(cluster_run: dict, local_project: Path) -> None:
    project = cluster_run["project"]
    assert (project / "results" / PROFILE / "REPORT.md").stat().st_size > 500
    ours = results(project)
    assert ours == results(local_project) and len(ours) > 2
    # every job of the DAG ran as a SLURM job; none ran on the submitting machine. Counted over every state: a job
    # the Ctrl-C's scancel caught after it had written its outputs is CANCELLED, and rightly not redone
    completed: dict[str, set[str]] = {}
    for job in cluster_run["jobs"]:
        completed.setdefault(rule_of(job), set()).add(job["Comment"])
    plan = {rule: n for rule, n in cluster_run["plan"].items() if rule not in ("all", "total", "evaluated")}
    # the dry run stops at the select checkpoint: the final runs and sweeps follow its choices
    selections = {d: json.loads((project / "results" / PROFILE / "selection" / f"{d}.json").read_text())
                  for d in load_params(project / "params.yaml", PROFILE)["datasets"]}
    folders = {r.folder for r in profile_runs(load_params(project / "params.yaml", PROFILE), selections=selections)}
    plan["train"] = plan["evaluate"] = len(folders)
    assert {rule: len(c) for rule, c in completed.items()} == plan
    for out in (cluster_run["first"], cluster_run["second"]):  # the bookkeeping rules all and evaluated only
        assert not re.search(r"^localrule (?!all:|evaluated:)", out, re.M)
    # the logs where the README says: every job's own log under logs/<profile>/
    logs = project / "logs" / PROFILE
    cfg = load_params(project / "params.yaml", PROFILE)
    from smartmining.runs import profile_runs as runs

    for run in runs(cfg):
        assert (logs / "train" / f"{run.folder}.log").stat().st_size > 0
    assert (logs / "report.log").exists() and list((logs / "prepare").glob("*.log"))


@pytest.mark.slurm
def test_a_scancelled_training_job_is_retried_and_resumes_from_its_checkpoint(cluster_run: dict) -> None:
    project, canceller = cluster_run["project"], cluster_run["canceller"]
    assert canceller.cancelled, f"no training job could be cancelled mid-training (too late: {canceller.too_late})"
    jobid, run_dir = canceller.cancelled
    jobs = cluster_run["jobs"]
    comment = next(j["Comment"] for j in jobs if j["JobIDRaw"] == jobid)
    attempts = [j for j in jobs if j["Comment"] == comment]
    assert [j["State"].split()[0] for j in attempts if int(j["JobIDRaw"]) >= int(jobid)] == ["CANCELLED", "COMPLETED"]
    log = project / "logs" / PROFILE / "train" / f"{run_dir.relative_to(project / 'runs' / PROFILE)}.log"
    assert re.search(r"resuming \S+ from epoch [1-9]", log.read_text()), log.read_text()[-3000:]
    wildcards = comment.removeprefix("rule_train_wildcards_")
    assert (project / ".snakemake" / "slurm_logs" / "rule_train" / wildcards / f"{jobid}.log").exists()
    epochs = (run_dir / "epochs.csv").read_text().strip().splitlines()
    assert len(epochs) == 2 + load_params(project / "params.yaml", PROFILE)["train"]["epochs"]  # header, epoch 0, 1..n


@pytest.mark.slurm
def test_an_interrupted_snakemake_cancels_its_jobs_and_a_rerun_redoes_no_finished_job(cluster_run: dict) -> None:
    before = cluster_run["before"]
    assert before, "Snakemake was interrupted before a training job finished"
    # Ctrl-C cancelled the queued and running jobs; only one submitted as it came may escape (the plugin
    # submits from a thread it waits for after cancelling), and the README says to scancel those
    late = [(j, t) for j, t in cluster_run["left_in_queue"] if t < cluster_run["interrupted"]]
    assert late == []
    assert [str(f) for f, t in before.items() if f.stat().st_mtime_ns != t] == []
    # the training jobs seen finished before the interruption were not submitted again
    runs = cluster_run["project"] / "runs"
    for comment in {train_comment(f.parent, runs) for f in before}:
        assert sum(j["Comment"] == comment for j in cluster_run["jobs"]) == 1, comment
    assert not list(cluster_run["project"].rglob("*.tmp"))


@pytest.mark.slurm
def test_submitted_jobs_carry_the_profiles_resources_account_and_partitions(cluster_run: dict) -> None:
    user = yaml.safe_load(readme_user_profile()[1])
    asked = {**submitted_resources(cluster_run["first"]), **submitted_resources(cluster_run["second"])}
    res = load_params(cluster_run["project"] / "params.yaml", PROFILE)["resources"]  # per rule
    jobs = [j for j in cluster_run["jobs"] if j["State"] == "COMPLETED"]
    assert {rule_of(j) for j in jobs} >= {"prepare", "train", "evaluate", "report"}
    for job in jobs:
        rule, want = rule_of(job), asked[job["JobIDRaw"]]
        assert want["rule"] == rule, (job, want)
        mine = res["baseline" if rule == "pretrained_baseline" else rule]  # what each rule asks is the profile's
        assert (want["threads"], want["mem_mb"], want["runtime"]) == (mine["threads"], mine["mem_mb"], mine["runtime_min"])
        partition = user.get("set-resources", {}).get(rule, {}).get(
            "slurm_partition", user["default-resources"]["slurm_partition"])
        assert job["Partition"] == partition, job
        assert job["Account"] == user["default-resources"]["slurm_account"], job
        assert job["ReqCPUS"] == str(want["threads"]), job
        assert job["ReqMem"] == f"{want['mem_mb']}M", job
        h, m = divmod(want["runtime"], 60)
        assert job["Timelimit"] == f"{h:02d}:{m:02d}:00", job


def submitted_resources(output: str) -> dict[str, dict]:
    """By SLURM job id: the rule, threads, mem_mb and runtime Snakemake printed for the job it submitted."""
    jobs: dict[str, dict] = {}
    for rule, body in re.findall(r"^(?:rule|checkpoint) (\w+):\n((?:    .*\n)+)", output, re.M):
        info = dict(line.strip().split(": ", 1) for line in body.splitlines() if ": " in line)
        resources = dict(kv.split("=", 1) for kv in info["resources"].split(", "))
        jobs[info["jobid"]] = {"rule": rule, "threads": int(info.get("threads", 1)),
                               "mem_mb": int(resources["mem_mb"]), "runtime": int(resources["runtime"])}
    return {slurm: jobs[job] for job, slurm in
            re.findall(r"^Job (\d+) has been submitted with SLURM jobid (\d+)", output, re.M)}


@pytest.mark.slurm
def test_a_user_error_stops_the_workflow_and_names_the_log(slurm_env: dict[str, str], tmp_path: Path) -> None:
    project = make_project(tmp_path)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["profiles"][PROFILE]["data"]["glyphs"]["n_classes"] = 100000  # passes the schema; prepare rejects it
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run = Run(project, slurm_env, readme_command(PROFILE) + FAST, "error")
    assert run.wait(600) != 0
    out = run.output()
    log = f"logs/{PROFILE}/prepare/glyphs.log"
    assert log in out and ".snakemake/slurm_logs/rule_prepare/" in out
    assert "n_classes must be in" in (project / log).read_text()
    jobs = sacct(slurm_env, project)
    assert {rule_of(j) for j in jobs} == {"prepare"}  # nothing downstream was submitted
    assert [j["State"] for j in jobs] == ["FAILED", "FAILED"]  # tried again once (retries: 1), then stopped


def test_the_paper_profile_asks_one_gpu_per_training_job_on_the_cluster_profile(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    proc = snakemake(project, "-n", "--workflow-profile", "workflow/profiles/slurm", "all", "--config", "profile=paper")
    blocks = re.findall(r"^rule train:\n(.*?)\n(?:Shell command|\n)", proc.stdout, re.S | re.M)
    res = load_params(project / "params.yaml", "paper")["resources"]["train"]
    assert blocks and res["gpu"] == 1
    for block in blocks:
        line = next(x for x in block.splitlines() if x.strip().startswith("resources:"))
        resources = dict(kv.split("=", 1) for kv in line.split(":", 1)[1].strip().split(", "))
        assert resources["gpu"] == "1" and resources["mem_mb"] == str(res["mem_mb"])
        assert resources["runtime"] == str(res["runtime_min"])
        assert "cpus" not in resources  # the local CPU pool is not submitted to the cluster
    assert len(blocks) == planned_jobs(project, "all", "--config", "profile=paper")["train"]
