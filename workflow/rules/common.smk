import functools
import json
import subprocess
import sys
from pathlib import Path

from snakemake.utils import validate

from smartmining.data.registry import check_prepared
from smartmining.errors import SmartMiningError
from smartmining.fingerprint import TRAINING_CODE_EXCLUDES, code_digest, digest
from smartmining.machine import machine_cpus, visible_gpus
from smartmining.profilecheck import check_dataset
from smartmining.runs import (DATA_DIR, FEATURES_DIR, PRETRAIN_DIR, SELECTION_FILE, cache_key, dataset_options, profile_runs,
                              selected_keys, selection_runs)

validate(config, "../schemas/config.schema.yaml")

PARAMS_FILE = config.get("params", "params.yaml")
TRAIN_CODE = code_digest(exclude=TRAINING_CODE_EXCLUDES)  # training reads all but the report
REPORT_CODE = code_digest("report", "methods.py", "runs.py", "settings.py")
RES = PROFILE["resources"]  # per rule: threads, mem_mb, runtime_min, gpu (params.yaml)
PRETRAINED = PROFILE["model"]["init"] == "pretrain"  # runs start from the pretrain stage's backbone
STARTS_PRETRAINED = PRETRAINED or PROFILE["model"]["pretrained"] is not False  # ... or from ImageNet weights
CACHED = bool(PROFILE["model"].get("cache_frozen"))  # runs read the features stage's frozen-trunk outputs
CHECK_FILE = "results/{profile}/checked/{dataset}.json"  # the check rule's: the profile fits the data
SELECTS = any(selection_runs(PROFILE, d) for d in PROFILE["datasets"])
ASKS_GPU = any(r["gpu"] > 0 for r in RES.values())


# --- jobs on this machine: never more threads than CPUs, never more GPU jobs than visible devices ---------
# Snakemake lets `--cores 8` start 8 single-thread jobs on 2 CPUs. Locally every job also takes `cpus`
# (its threads) from a pool of the machine's CPUs, and `gpu` jobs from a pool of the visible devices (a
# --resources cpus=N or gpu=N of yours wins). Submitting to a cluster (--jobs N, as workflow/profiles/slurm
# does) sets no pool: the cluster gives each job its own CPUs and GPUs.
LOCAL = workflow.global_resources["_nodes"].value is None
CPUS = machine_cpus()
GPUS = visible_gpus(probe=ASKS_GPU) if LOCAL else 0
if LOCAL:
    if "cpus" not in workflow.global_resources:
        workflow.register_resource("cpus", CPUS)
    if ASKS_GPU and GPUS == 0:
        print(f"WARNING: profile {PROFILE_NAME!r} asks for a GPU per job (resources.*.gpu in {PARAMS_FILE}) but none "
              "is visible (CUDA_VISIBLE_DEVICES, torch): its jobs run on the CPU, slowly", file=sys.stderr)
    elif ASKS_GPU and "gpu" not in workflow.global_resources:
        workflow.register_resource("gpu", GPUS)


def job_threads(rule):
    """The rule's threads from params.yaml; locally at most the machine's CPUs (Snakemake caps at --cores)."""
    return min(RES[rule]["threads"], CPUS) if LOCAL else RES[rule]["threads"]


def job_resources(rule):
    """mem_mb, runtime and gpu from params.yaml; locally, `cpus` = threads from the CPU pool, and no GPU where
    none is visible (the job then runs on the CPU and says so in its log)."""
    r = RES[rule]
    gpu = 0 if LOCAL and GPUS == 0 and "gpu" not in workflow.global_resources else r["gpu"]
    out = {"mem_mb": r["mem_mb"], "runtime": r["runtime_min"], "gpu": gpu}
    return {**out, "cpus": job_threads(rule)} if LOCAL else out


def selection_of(dataset):
    """The select stage's choices for a dataset (a checkpoint: jobs that need them wait for it)."""
    path = checkpoints.select.get(profile=PROFILE_NAME, dataset=dataset).output[0]
    return json.loads(Path(path).read_text())


def run_params(wildcards):
    """The parameters a run depends on, the select stage's choices for its method included (so a new
    choice reruns that method's runs only)."""
    chosen = selection_of(wildcards.dataset) if selected_keys(PROFILE, wildcards.run) else None
    return digest(cache_key(PROFILE, wildcards.dataset, wildcards.run, chosen))


@functools.cache
def checked_now(dataset):
    """The check rule's test, run while the DAG is built where the data is already prepared as the profile
    needs (else prepare and check run first): an edit that dooms a prepared profile stops before any job."""
    data_dir = Path(DATA_DIR.format(profile=PROFILE_NAME, dataset=dataset))
    options = {**PROFILE["data"].get(dataset, {}), "skip_bad_images": PROFILE["train"].get("skip_bad_images", False)}
    try:
        check_prepared(dataset, data_dir, **options)
    except SmartMiningError:
        return False  # not prepared yet, or with other options: the check rule runs after prepare
    check_dataset(PROFILE, dataset, data_dir)
    return True


def checked_input(wildcards):
    """The check rule's output as an ancient() input (a rerun of the check retrains nothing)."""
    checked_now(wildcards.dataset)
    return ancient(CHECK_FILE.format(profile=PROFILE_NAME, dataset=wildcards.dataset))


def run_inputs(wildcards):
    names = {"profile": PROFILE_NAME, "dataset": wildcards.dataset}
    out = {"manifest": str(Path(DATA_DIR.format(**names), "manifest.csv")), "checked": checked_input(wildcards)}
    if PRETRAINED:
        out["backbone"] = str(Path(PRETRAIN_DIR.format(**names), "backbone.pt"))
    if CACHED:
        out["features"] = str(Path(FEATURES_DIR.format(**names), "features.json"))
    if selected_keys(PROFILE, wildcards.run):
        # wait for the select checkpoint, but not as an input file: a new choice for one method would then
        # rerun every method's runs; run_params holds this run's method's choice, so only a change reruns it
        checkpoints.select.get(**names)
    return out


def report_folders(datasets=None):
    """Every run folder the report reads (of ``datasets``, default all), once: a sweep point equal to a final
    run is that run."""
    datasets = list(datasets or PROFILE["datasets"])
    selections = {d: selection_of(d) for d in datasets} if SELECTS else None
    return list(dict.fromkeys(r.folder for r in profile_runs({**PROFILE, "datasets": datasets}, selections=selections)))
