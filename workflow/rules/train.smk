# Train one (dataset, model, loss, scale, seed) run.
rule train:
    input:
        train=RESULTS + "/data/{dataset}/x{scale}/train.h5",
        val=RESULTS + "/data/{dataset}/x{scale}/val.h5",
    output:
        model=RUN_DIR + "/model.pt",
        history=RUN_DIR + "/history.csv",
        record=RUN_DIR + "/run.json",
    params:
        spec=run_spec_json,
        code=CODE["train"],
    threads: config["training"]["threads"]
    resources:
        gpu=1,
    log:
        RESULTS + "/logs/train/" + RUN_ID + ".log",
    benchmark:
        RESULTS + "/benchmarks/train/" + RUN_ID + ".tsv"
    conda:
        "../../envs/srloss.yaml"
    shell:
        "srloss gpu-run -- srloss train --spec {params.spec:q} --train-shard {input.train} --val-shard {input.val}"
        " --model {output.model} --history {output.history} --record {output.record}"
        " --threads {threads} > {log} 2>&1"
