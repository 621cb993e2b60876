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


# Before any training: the profile against the prepared data (validation classes for the selection sweeps,
# evaluation.ks, mining.k, batch sizes); a doomed profile stops here, naming the key. It reruns only with
# the data (no params here: any rerun of an upstream job would retrain every run), and its output is an
# ancient() input of the training jobs. Parameters edited after the data was prepared are checked when the
# DAG is built (checked_now in common.smk).
rule check:
    input:
        manifest="data/{profile}/{dataset}/manifest.csv",
    output:
        CHECK_FILE,
    params:
        params_file=PARAMS_FILE,
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/check/{dataset}.log",
    threads: job_threads("check")
    resources:
        **job_resources("check"),
    shell:
        "smartmining check --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --data-dir data/{wildcards.profile}/{wildcards.dataset} --out {output} > {log} 2>&1"


rule pretrain:
    input:
        manifest="data/{profile}/{dataset}/manifest.csv",
        checked=checked_input,
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
    threads: job_threads("pretrain")
    resources:
        **job_resources("pretrain"),
    shell:
        "smartmining pretrain --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out runs/{wildcards.profile}/{wildcards.dataset}/_pretrain --threads {threads} > {log} 2>&1"


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
    threads: job_threads("features")
    resources:
        **job_resources("features"),
    shell:
        "smartmining features --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out runs/{wildcards.profile}/{wildcards.dataset}/_features --threads {threads} > {log} 2>&1"
