rule train:
    input:
        unpack(run_inputs),
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


checkpoint select:
    input:
        epochs=lambda w: [f"runs/{PROFILE_NAME}/{r.folder}/epochs.csv" for r in selection_runs(PROFILE, w.dataset)],
    output:
        "results/{profile}/selection/{dataset}.json",
    params:
        params_file=PARAMS_FILE,
        code=code_digest("selection.py", "runs.py", "tuning.py"),
    conda:
        "../envs/smartmining.yaml"
    log:
        "logs/{profile}/select/{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "smartmining select --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --runs runs/{wildcards.profile} --out {output} > {log} 2>&1"
