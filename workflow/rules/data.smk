rule prepare:
    output:
        manifest="data/{profile}/{dataset}/manifest.csv",
    params:
        params_file=PARAMS_FILE,
        options=lambda w: digest(dataset_options(PROFILE, w.dataset)),
        code=code_digest("data"),
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/prepare/{dataset}.log",
    threads: job_threads("prepare")
    resources:
        **job_resources("prepare"),
    shell:
        "smartmining prepare --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out data/{wildcards.profile}/{wildcards.dataset} > {log} 2>&1"


rule pretrain:
    input:
        manifest="data/{profile}/{dataset}/manifest.csv",
    output:
        backbone="runs/{profile}/{dataset}/_pretrain/backbone.pt",
        record="runs/{profile}/{dataset}/_pretrain/pretrain.json",
    params:
        params_file=PARAMS_FILE,
        settings=lambda w: digest({k: PROFILE[k] for k in ("pretrain", "model", "transform")} | {"data": PROFILE["data"].get(w.dataset, {})}),
        code=TRAIN_CODE,
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/pretrain/{dataset}.log",
    threads: job_threads("pretrain")
    resources:
        **job_resources("pretrain"),
    shell:
        "smartmining pretrain --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out runs/{wildcards.profile}/{wildcards.dataset}/_pretrain --threads {threads} > {log} 2>&1"
