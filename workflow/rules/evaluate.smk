rule evaluate:
    input:
        embeddings="runs/{profile}/{dataset}/{run}/seed{seed}/test_embeddings.npy",
        labels="runs/{profile}/{dataset}/{run}/seed{seed}/test_labels.npy",
    output:
        "runs/{profile}/{dataset}/{run}/seed{seed}/eval.json",
    params:
        params_file=PARAMS_FILE,
        evaluation=digest(PROFILE["evaluation"]),
        code=code_digest("evaluation"),
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/evaluate/{dataset}/{run}/seed{seed}.log",
    threads: job_threads("evaluate")
    resources:
        **job_resources("evaluate"),
    shell:
        "smartmining evaluate --config {params.params_file} --profile {wildcards.profile}"
        " --embeddings {input.embeddings} --labels {input.labels} --out {output} > {log} 2>&1"


rule baseline:
    input:
        manifest="data/{profile}/{dataset}/manifest.csv",
    output:
        "results/{profile}/untrained/{dataset}/metrics.json",
    params:
        params_file=PARAMS_FILE,
        code=TRAIN_CODE,
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/baseline/{dataset}.log",
    threads: job_threads("baseline")
    resources:
        **job_resources("baseline"),
    shell:
        "smartmining baseline --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --out results/{wildcards.profile}/untrained/{wildcards.dataset}"
        " --data-dir data/{wildcards.profile}/{wildcards.dataset} --threads {threads} > {log} 2>&1"


rule pretrained_baseline:
    input:
        manifest="data/{profile}/{dataset}/manifest.csv",
        backbone="runs/{profile}/{dataset}/_pretrain/backbone.pt",
    output:
        "results/{profile}/pretrained/{dataset}/metrics.json",
    params:
        params_file=PARAMS_FILE,
        code=TRAIN_CODE,
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/baseline/{dataset}-pretrained.log",
    threads: job_threads("baseline")
    resources:
        **job_resources("baseline"),
    shell:
        "smartmining baseline --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --init-from {input.backbone} --out results/{wildcards.profile}/pretrained/{wildcards.dataset}"
        " --data-dir data/{wildcards.profile}/{wildcards.dataset} --threads {threads} > {log} 2>&1"
