rule prepare:
    output:
        manifest="data/{profile}/{dataset}/manifest.csv",
    params:
        options=lambda w: digest(PROFILE["data"].get(w.dataset, {})),
        code=code_digest("data"),
    log:
        "logs/{profile}/prepare/{dataset}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{SM} prepare --config {PARAMS_FILE} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out data/{wildcards.profile}/{wildcards.dataset} > {log} 2>&1"
