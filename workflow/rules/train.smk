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
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    shell:
        "smartmining train --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --method {wildcards.run} --seed {wildcards.seed} --out {params.out}"
        " --data-dir data/{wildcards.profile}/{wildcards.dataset} --threads {threads} --quiet --restart-if-changed > {log} 2>&1"


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
    threads: job_threads("select")
    resources:
        **job_resources("select"),
    shell:
        "smartmining select --config {params.params_file} --profile {wildcards.profile} --dataset {wildcards.dataset}"
        " --runs runs/{wildcards.profile} --out {output} > {log} 2>&1"
