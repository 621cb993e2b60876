rule train:
    input:
        manifest="data/{profile}/{dataset}/manifest.csv",
    output:
        metrics="runs/{profile}/{dataset}/{run}/seed{seed}/metrics.json",
        epochs="runs/{profile}/{dataset}/{run}/seed{seed}/epochs.csv",
        embeddings="runs/{profile}/{dataset}/{run}/seed{seed}/test_embeddings.npy",
        labels="runs/{profile}/{dataset}/{run}/seed{seed}/test_labels.npy",
    params:
        params_file=PARAMS_FILE,
        run=run_params,
        code=TRAIN_CODE,
        out=lambda w: f"runs/{w.profile}/{w.dataset}/{w.run}/seed{w.seed}",
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/train/{dataset}/{run}/seed{seed}.log",
    threads: RES.get("train_threads", 1)
    resources:
        mem_mb=RES.get("train_mem_mb", 2000),
        runtime=RES.get("train_runtime_min", 60),
        gpu=RES.get("gpu", 0),
    shell:
        "smartmining train --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --method {wildcards.run} --seed {wildcards.seed} --out {params.out}"
        " --data-dir data/{wildcards.profile}/{wildcards.dataset} --quiet --restart-if-changed > {log} 2>&1"
