rule prepare:
    output:
        manifest="data/{profile}/{dataset}/manifest.csv",
    params:
        params_file=PARAMS_FILE,
        options=lambda w: digest(PROFILE["data"].get(w.dataset, {})),
        code=code_digest("data"),
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/prepare/{dataset}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "smartmining prepare --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out data/{wildcards.profile}/{wildcards.dataset} > {log} 2>&1"
