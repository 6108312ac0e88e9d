# Degrade HR images and write one split's shard of one dataset at one scale, with its manifest
# (size and SHA-256, srloss.data.manifest) beside it: the parse checks every shard against it and
# prepares a damaged one again before anything reads it (common.smk, check_shards).
# Inputs: fetched archives (fetch.smk) unless the dataset is on disk already (`root`).
# One job per split: each shard's identity (its params) is only what shapes it (sources.split_spec),
# so editing the test split re-prepares the test shard alone and no model is retrained. Where the
# files lie (`root`) reaches the job as $SRLOSS_DATASET_LOCATIONS, not in its identity: moving a
# folder (or reaching it through a symbolic link) reruns nothing; its files' content decides.
from srloss.data.sources import split_spec


rule prepare:
    input:
        dataset_inputs,
    output:
        shard=result("data/{dataset}/x{scale}/{split}.h5"),
        manifest=result("data/{dataset}/x{scale}/{split}.h5.json"),
    log:
        result("logs/prepare/{dataset}/x{scale}/{split}.log"),
    benchmark:
        result("benchmarks/prepare/{dataset}/x{scale}/{split}.tsv")
    conda:
        "../../envs/srloss.yaml"
    threads: 1
    resources:
        mem_mb=4000,  # one HR image and its patches at a time (shards are written incrementally)
        runtime=60,  # minutes
    params:
        spec=rule_function(lambda w: to_json(split_spec(study.dataset_spec(w.dataset), w.split, int(w.scale)))),
        # the content of the user's image files (datasets with `root`, common.smk IMAGE_FILES): editing
        # (even to the same size, mtime restored), adding or removing an image reruns this shard
        # and what depends on it; touching or copying one does not
        files=rule_function(lambda w: IMAGE_FILES[(w.dataset, w.split)]),
        code=code_of("prepare"),
    shell:
        '$SRLOSS_PYTHON -m srloss prepare --spec {params.spec:q} --locations "$SRLOSS_DATASET_LOCATIONS" --dataset {wildcards.dataset}'
        " --scale {wildcards.scale} --{wildcards.split} {output.shard} > {log} 2>&1"
