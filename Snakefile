# The smartmining pipeline: prepare data, pretrain, select hyperparameters on validation classes, train
# the method matrix, evaluate, report. Layout as the Snakemake workflow template: this thin file,
# workflow/rules/*.smk, workflow/schemas/, workflow/envs/, workflow/profiles/ (`profiles` at the root
# links there, so Snakemake loads profiles/default from the root).
#   snakemake --cores 8 all                          (the profile named in params.yaml, default: cpu)
#   snakemake --cores 8 all --config profile=smoke
# Rules call the `smartmining` CLI; the run matrix and the paths come from the package (smartmining.runs).
import re

from smartmining.config import load_params

configfile: "workflow/config.yaml"

PROFILE = load_params(config.get("params", "params.yaml"), config.get("profile"))
PROFILE_NAME = PROFILE["profile"]

# Paths name the profile they were built with; a target naming another profile matches no rule.
wildcard_constraints:
    profile=re.escape(PROFILE_NAME),
    dataset=r"[A-Za-z0-9_-]+",
    run=r"[^/_][^/]*",
    seed=r"\d+",


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        report=f"results/{PROFILE_NAME}/REPORT.md",
        evaluated=[f"runs/{PROFILE_NAME}/{d}/_evaluated.txt" for d in PROFILE["datasets"]],
