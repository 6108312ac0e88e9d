# Degrade HR images and write the train/val/test shards of one dataset at one scale.
# Inputs: fetched archives (fetch.smk) unless the dataset is on disk already (`root`).
rule prepare:
    input:
        dataset_inputs,
    output:
        train=RESULTS + "/data/{dataset}/x{scale}/train.h5",
        val=RESULTS + "/data/{dataset}/x{scale}/val.h5",
        test=RESULTS + "/data/{dataset}/x{scale}/test.h5",
    params:
        spec=lambda w: to_json(study.dataset_spec(w.dataset)),
        code=CODE["prepare"],
    threads: 1
    resources:
        mem_mb=4000,  # one HR image and its patches at a time (shards are written incrementally)
    log:
        RESULTS + "/logs/prepare/{dataset}/x{scale}.log",
    benchmark:
        RESULTS + "/benchmarks/prepare/{dataset}/x{scale}.tsv"
    conda:
        "../../envs/srloss.yaml"
    shell:
        "srloss prepare --spec {params.spec:q} --scale {wildcards.scale}"
        " --train {output.train} --val {output.val} --test {output.test} > {log} 2>&1"
