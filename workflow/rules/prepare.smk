# Degrade HR images and write the train/val/test shards of one dataset at one scale.
rule prepare:
    output:
        train=RESULTS + "/data/{dataset}/x{scale}/train.h5",
        val=RESULTS + "/data/{dataset}/x{scale}/val.h5",
        test=RESULTS + "/data/{dataset}/x{scale}/test.h5",
    params:
        spec=lambda w: to_json(study.dataset_spec(w.dataset)),
        code=CODE["prepare"],
    log:
        RESULTS + "/logs/prepare/{dataset}/x{scale}.log",
    benchmark:
        RESULTS + "/benchmarks/prepare/{dataset}/x{scale}.tsv"
    conda:
        "../../envs/srloss.yaml"
    shell:
        "srloss prepare --spec {params.spec:q} --scale {wildcards.scale}"
        " --train {output.train} --val {output.val} --test {output.test} > {log} 2>&1"
