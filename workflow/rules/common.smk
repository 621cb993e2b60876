from pathlib import Path

from snakemake.utils import validate

from smartmining.fingerprint import TRAINING_CODE_EXCLUDES, code_digest, digest
from smartmining.runs import DATA_DIR, PRETRAIN_DIR, SELECTION_FILE, cache_key, dataset_options, selected_keys, selection_runs

validate(config, "../schemas/config.schema.yaml")

PARAMS_FILE = config.get("params", "params.yaml")
TRAIN_CODE = code_digest(exclude=TRAINING_CODE_EXCLUDES)  # training reads all but the report
REPORT_CODE = code_digest("report", "methods.py", "runs.py", "settings.py")
RES = PROFILE["resources"]
PRETRAINED = PROFILE["model"]["init"] == "pretrain"
SELECTS = any(selection_runs(PROFILE, d) for d in PROFILE["datasets"])


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
