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
        "results/{profile}/untrained/{dataset}/seed{seed}/metrics.json",
    params:
        params_file=PARAMS_FILE,
        code=TRAIN_CODE,
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/baseline/{dataset}/seed{seed}.log",
    threads: job_threads("baseline")
    resources:
        **job_resources("baseline"),
    shell:
        "smartmining baseline --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --kind untrained --seed {wildcards.seed} --out results/{wildcards.profile}/untrained/{wildcards.dataset}/seed{wildcards.seed}"
        " --data-dir data/{wildcards.profile}/{wildcards.dataset} --threads {threads} > {log} 2>&1"


rule pretrained_baseline:
    input:
        manifest="data/{profile}/{dataset}/manifest.csv",
        backbone=lambda w: [f"runs/{w.profile}/{w.dataset}/_pretrain/backbone.pt"] if PRETRAINED else [],
    output:
        "results/{profile}/pretrained/{dataset}/seed{seed}/metrics.json",
    params:
        params_file=PARAMS_FILE,
        code=TRAIN_CODE,
        init=lambda w, input: f"--init-from {input.backbone}" if PRETRAINED else "",
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/baseline/{dataset}-pretrained/seed{seed}.log",
    threads: job_threads("baseline")
    resources:
        **job_resources("baseline"),
    shell:
        "smartmining baseline --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --kind pretrained {params.init} --seed {wildcards.seed}"
        " --out results/{wildcards.profile}/pretrained/{wildcards.dataset}/seed{wildcards.seed}"
        " --data-dir data/{wildcards.profile}/{wildcards.dataset} --threads {threads} > {log} 2>&1"
