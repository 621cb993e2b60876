import sys
from pathlib import Path

from snakemake.utils import validate

from smartmining.fingerprint import TRAINING_CODE_EXCLUDES, code_digest, digest
from smartmining.machine import machine_cpus, visible_gpus
from smartmining.runs import DATA_DIR, PRETRAIN_DIR, SELECTION_FILE, cache_key, dataset_options, selected_keys, selection_runs

validate(config, "../schemas/config.schema.yaml")

PARAMS_FILE = config.get("params", "params.yaml")
TRAIN_CODE = code_digest(exclude=TRAINING_CODE_EXCLUDES)  # training reads all but the report
REPORT_CODE = code_digest("report", "methods.py", "runs.py", "settings.py")
RES = PROFILE["resources"]  # per rule: threads, mem_mb, runtime_min, gpu (params.yaml)
PRETRAINED = PROFILE["model"]["init"] == "pretrain"
SELECTS = any(selection_runs(PROFILE, d) for d in PROFILE["datasets"])
ASKS_GPU = any(r["gpu"] > 0 for r in RES.values())


# --- jobs on this machine: never more threads than CPUs, never more GPU jobs than visible devices ---------
# Snakemake lets `--cores 8` start 8 single-thread jobs on 2 CPUs. Locally every job also takes `cpus`
# (its threads) from a pool of the machine's CPUs, and `gpu` jobs from a pool of the visible devices. On a
# cluster (SLURM), the scheduler gives each job its own, and no pool is set. Which executor runs is known
# only once the DAG is built, so the limits are set then (the first job's threads ask for them).
_LIMITS = {}


def on_this_machine():
    """Whether the jobs run here, not on a cluster (a dry run with --jobs stands for a cluster)."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name == "dryrun":
        return workflow.global_resources["_nodes"].value is None
    return workflow.local_exec


def local_limits():
    if not _LIMITS:
        _LIMITS["local"] = on_this_machine()
        if _LIMITS["local"]:
            if "cpus" not in workflow.global_resources:  # a --resources cpus=N of the user wins
                workflow.register_resource("cpus", machine_cpus())
            gpus = visible_gpus(probe=ASKS_GPU)
            if ASKS_GPU and gpus == 0:
                print(f"WARNING: profile {PROFILE_NAME!r} asks for a GPU per job (resources.*.gpu in {PARAMS_FILE}) "
                      "but none is visible (CUDA_VISIBLE_DEVICES, torch): its jobs run on the CPU, one at a time "
                      "per CPU they ask for, slowly", file=sys.stderr)
            elif ASKS_GPU and "gpu" not in workflow.global_resources:
                workflow.register_resource("gpu", gpus)
    return _LIMITS["local"]


def job_threads(rule):
    """The rule's threads from params.yaml; locally at most the machine's CPUs (Snakemake caps at --cores)."""
    want = RES[rule]["threads"]
    return (lambda wildcards: min(want, machine_cpus()) if local_limits() else want)


def job_resources(rule):
    """mem_mb, runtime, gpu from params.yaml, and locally `cpus` = threads (the CPU pool above)."""
    r = RES[rule]
    return {"mem_mb": r["mem_mb"], "runtime": r["runtime_min"], "gpu": lambda wildcards: gpu_of(r),
            "cpus": lambda wildcards, threads: threads if local_limits() else None}


def gpu_of(r):
    """Locally without a visible device, a GPU job is a CPU job (the jobs warn in their logs)."""
    if r["gpu"] and local_limits() and "gpu" not in workflow.global_resources:
        return 0
    return r["gpu"]


def run_params(wildcards):
    """The parameters a run depends on (the select stage's choices enter as an input file)."""
    return digest(cache_key(PROFILE, wildcards.dataset, wildcards.run))


def run_inputs(wildcards):
    names = {"profile": PROFILE_NAME, "dataset": wildcards.dataset}
    out = {"manifest": str(Path(DATA_DIR.format(**names), "manifest.csv"))}
    if PRETRAINED:
        out["backbone"] = str(Path(PRETRAIN_DIR.format(**names), "backbone.pt"))
    if selected_keys(PROFILE, wildcards.run):
        out["selection"] = SELECTION_FILE.format(**names)
    return out
