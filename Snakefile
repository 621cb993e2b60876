# The smartmining pipeline: prepare data, train the method matrix and the sweeps, evaluate, report.
#   snakemake --cores 8 all                          (the profile named in params.yaml, default: cpu)
#   snakemake --cores 8 all --config profile=smoke
# Rules call the `smartmining` CLI; the run matrix comes from the package (smartmining.pipeline).
from smartmining.config import load_params
from smartmining.pipeline import code_digest, digest, resolve_run, run_config, runs

configfile: "workflow/config.yaml"

PROFILE = load_params(config.get("params", "params.yaml"), config.get("profile"))
PROFILE_NAME = PROFILE["profile"]
RUNS = runs(PROFILE)

wildcard_constraints:
    profile=r"[A-Za-z0-9_-]+",
    dataset=r"[A-Za-z0-9_-]+",
    run=r"[^/]+",
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
