import json
from pathlib import Path

from snakemake.utils import validate

from smartmining.fingerprint import TRAINING_CODE_EXCLUDES, code_digest, digest
from smartmining.runs import (DATA_DIR, FEATURES_DIR, PRETRAIN_DIR, SELECTION_FILE, cache_key, dataset_options, profile_runs, selected_keys,
                              selection_runs)

validate(config, "../schemas/config.schema.yaml")

PARAMS_FILE = config.get("params", "params.yaml")
TRAIN_CODE = code_digest(exclude=TRAINING_CODE_EXCLUDES)  # training reads all but the report
REPORT_CODE = code_digest("report", "methods.py", "runs.py", "settings.py")
RES = PROFILE["resources"]
PRETRAINED = PROFILE["model"]["init"] == "pretrain"  # runs start from the pretrain stage's backbone
STARTS_PRETRAINED = PRETRAINED or PROFILE["model"]["pretrained"] is not False  # ... or from ImageNet weights
CACHED = bool(PROFILE["model"].get("cache_frozen"))  # runs read the features stage's frozen-trunk outputs
SELECTS = any(selection_runs(PROFILE, d) for d in PROFILE["datasets"])


def selection_of(dataset):
    """The select stage's choices for a dataset (a checkpoint: jobs that need them wait for it)."""
    path = checkpoints.select.get(profile=PROFILE_NAME, dataset=dataset).output[0]
    return json.loads(Path(path).read_text())


def run_params(wildcards):
    """The parameters a run depends on, the select stage's choices for its method included (so a new
    choice reruns that method's runs only)."""
    chosen = selection_of(wildcards.dataset) if selected_keys(PROFILE, wildcards.run) else None
    return digest(cache_key(PROFILE, wildcards.dataset, wildcards.run, chosen))


def run_inputs(wildcards):
    names = {"profile": PROFILE_NAME, "dataset": wildcards.dataset}
    out = {"manifest": str(Path(DATA_DIR.format(**names), "manifest.csv"))}
    if PRETRAINED:
        out["backbone"] = str(Path(PRETRAIN_DIR.format(**names), "backbone.pt"))
    if CACHED:
        out["features"] = str(Path(FEATURES_DIR.format(**names), "features.json"))
    if selected_keys(PROFILE, wildcards.run):
        out["selection"] = checkpoints.select.get(**names).output[0]
    return out


def report_folders():
    """Every run folder the report reads, once: a sweep point equal to a final run is that run."""
    selections = {d: selection_of(d) for d in PROFILE["datasets"]} if SELECTS else None
    return list(dict.fromkeys(r.folder for r in profile_runs(PROFILE, selections=selections)))
