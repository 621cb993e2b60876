from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

PARAMS_FILE = config.get("params", "params.yaml")
TRAIN_CODE = code_digest(exclude=TRAINING_CODE_EXCLUDES)  # training reads all but the report
REPORT_CODE = code_digest("report", "methods.py", "pipeline.py")
RES = PROFILE["resources"]


def run_params(wildcards):
    """The parameters a run depends on; a change to them (and only them) reruns it."""
    method, overrides = resolve_run(PROFILE, wildcards.run)
    return digest(run_config(PROFILE, wildcards.dataset, method, overrides))
