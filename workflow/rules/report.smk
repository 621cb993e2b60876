report: "../report/workflow.rst"


# Each dataset's runs, evaluated: `all` asks for these besides the report, so that with keep-going one
# dataset's failure leaves the others trained and evaluated (the report's inputs wait on every dataset).
rule evaluated:
    input:
        lambda w: [f"runs/{PROFILE_NAME}/{folder}/eval.json" for folder in report_folders([w.dataset])],
    output:
        "runs/{profile}/{dataset}/_evaluated.txt",
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/evaluated/{dataset}.log",
    localrule: True
    shell:
        "printf '%s\\n' {input} > {output} 2> {log}"


rule report:
    input:
        evals=lambda w: [f"runs/{PROFILE_NAME}/{folder}/eval.json" for folder in report_folders()],
        epochs=lambda w: [f"runs/{PROFILE_NAME}/{folder}/epochs.csv" for folder in report_folders()],
        baselines=[f"results/{PROFILE_NAME}/untrained/{d}/seed{s}/metrics.json" for d in PROFILE["datasets"] for s in PROFILE["seeds"]],
        pretrained=[f"results/{PROFILE_NAME}/pretrained/{d}/seed{s}/metrics.json" for d in PROFILE["datasets"]
                    for s in PROFILE["seeds"]] if STARTS_PRETRAINED else [],
        selection=[SELECTION_FILE.format(profile=PROFILE_NAME, dataset=d) for d in PROFILE["datasets"]] if SELECTS else [],
    output:
        report="results/{profile}/REPORT.md",
        table="results/{profile}/summary.csv",
        curves="results/{profile}/curves.csv",
        metrics="results/{profile}/metrics.json",
        recall="results/{profile}/recall_at_1.csv",
        readings=[f"results/{{profile}}/readings_{d}.md" for d in PROFILE["datasets"]],
        # every reading with its tests and verdict, and the stamp of every file written (the reference for the next
        # run is the committed readings.json: Snakemake removes this one before the job, git keeps it)
        readings_json="results/{profile}/readings.json",
        stamp="results/{profile}/STAMP.json",
        # `snakemake --report report.html` (or .zip) holds every figure and table of REPORT.md
        figures=report(directory("results/{profile}/figures"), patterns=["{name}.png"], caption="../report/figures.rst",
                       category="Figures", labels={"figure": "{name}"}),
        tables=report(directory("results/{profile}/tables"), patterns=["{name}.csv"], caption="../report/tables.rst",
                      category="Tables", labels={"table": "{name}"}),
    params:
        params_file=PARAMS_FILE,
        code=REPORT_CODE,
        settings=digest(PROFILE.get("report", {})),  # margins, alpha: a change reruns the report
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/report.log",
    threads: job_threads("report")
    resources:
        **job_resources("report"),
    shell:
        "smartmining report --config {params.params_file} --profile {wildcards.profile} --runs runs/{wildcards.profile}"
        " --out results/{wildcards.profile} > {log} 2>&1"


# One dataset's failure does not stop the others (keep-going in workflow/profiles/*): when jobs failed, the
# report is still written from what finished, naming each missing dataset, the stage that stopped it and
# its log ("Missing from this report"). Not after Ctrl-C, and on a cluster only as a hint (not on the
# login node). The exit status stays that of the failure.
onerror:
    logs = [log] if isinstance(log, (str, Path)) else list(log or [])  # Snakemake's own log(s) of this run
    text = "".join(Path(p).read_text(errors="replace") for p in logs if Path(p).is_file())
    if "Error in rule" in text and "Terminating processes on user request" not in text:
        command = (f"smartmining report --config {PARAMS_FILE} --profile {PROFILE_NAME} --runs runs/{PROFILE_NAME}"
                   f" --out results/{PROFILE_NAME}")
        if LOCAL:
            report_log = Path(f"logs/{PROFILE_NAME}/report.log")
            report_log.parent.mkdir(parents=True, exist_ok=True)
            with report_log.open("w") as fh:
                done = subprocess.run(command.split(), stdout=fh, stderr=subprocess.STDOUT).returncode == 0
            print(f"Some jobs failed; the report of what finished, with what is missing and why: "
                  f"results/{PROFILE_NAME}/REPORT.md" if done else f"Some jobs failed; no report ({report_log})",
                  file=sys.stderr)
        else:
            print(f"Some jobs failed; for a report of what finished: {command}", file=sys.stderr)
