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
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
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
        settings=lambda w: digest({k: PROFILE[k] for k in ("pretrain", "model", "transform")} | {"data": dataset_options(PROFILE, w.dataset)}),
        code=TRAIN_CODE,
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/pretrain/{dataset}.log",
    threads: RES.get("train_threads", 1)
    resources:
        mem_mb=RES.get("train_mem_mb", 2000),
        runtime=RES.get("train_runtime_min", 60),
        gpu=RES.get("gpu", 0),
    shell:
        "smartmining pretrain --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out runs/{wildcards.profile}/{wildcards.dataset}/_pretrain > {log} 2>&1"


rule features:
    input:
        manifest="data/{profile}/{dataset}/manifest.csv",
    output:
        features="runs/{profile}/{dataset}/_features/features.npy",
        index="runs/{profile}/{dataset}/_features/features.json",
    params:
        params_file=PARAMS_FILE,
        settings=lambda w: digest({k: PROFILE[k] for k in ("model", "transform")} | {"data": dataset_options(PROFILE, w.dataset)}),
        code=TRAIN_CODE,
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/features/{dataset}.log",
    threads: RES.get("train_threads", 1)
    resources:
        mem_mb=RES.get("train_mem_mb", 2000),
        runtime=RES.get("train_runtime_min", 60),
        gpu=RES.get("gpu", 0),
    shell:
        "smartmining features --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out runs/{wildcards.profile}/{wildcards.dataset}/_features > {log} 2>&1"
