report: "../report/workflow.rst"


rule report:
    input:
        evals=[f"runs/{PROFILE_NAME}/{r.folder}/eval.json" for r in RUNS],
        epochs=[f"runs/{PROFILE_NAME}/{r.folder}/epochs.csv" for r in RUNS],
        baselines=[f"results/{PROFILE_NAME}/untrained/{d}/metrics.json" for d in PROFILE["datasets"]],
        pretrained=[f"results/{PROFILE_NAME}/pretrained/{d}/metrics.json" for d in PROFILE["datasets"]] if PRETRAINED else [],
        selection=[SELECTION_FILE.format(profile=PROFILE_NAME, dataset=d) for d in PROFILE["datasets"]] if SELECTS else [],
    output:
        report="results/{profile}/REPORT.md",
        table="results/{profile}/summary.csv",
        curves="results/{profile}/curves.csv",
        metrics="results/{profile}/metrics.json",
        recall="results/{profile}/recall_at_1.csv",
        readings=[f"results/{{profile}}/readings_{d}.md" for d in PROFILE["datasets"]],
        # `snakemake --report report.html` (or .zip) holds every figure and table of REPORT.md
        figures=report(directory("results/{profile}/figures"), patterns=["{name}.png"], caption="../report/figures.rst",
                       category="Figures", labels={"figure": "{name}"}),
        tables=report(directory("results/{profile}/tables"), patterns=["{name}.csv"], caption="../report/tables.rst",
                      category="Tables", labels={"table": "{name}"}),
    params:
        params_file=PARAMS_FILE,
        code=REPORT_CODE,
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
