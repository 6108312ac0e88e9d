# Evaluate one run (or an untrained baseline) on the test shard: per-image metrics.
def evaluate_inputs(wildcards):
    inputs = {"test": RESULTS + f"/data/{wildcards.dataset}/x{wildcards.scale}/test.h5"}
    if study.is_trained(wildcards.model):
        inputs["model"] = RUN_DIR.format(**wildcards) + "/model.pt"
    return inputs


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=RUN_DIR + "/metrics.csv",
        record=RUN_DIR + "/eval.json",
    params:
        spec=run_spec_json,
        code=CODE["evaluate"],
        checkpoint=lambda w, input: f"--checkpoint {input.model}" if "model" in input.keys() else "",
    log:
        RESULTS + "/logs/evaluate/" + RUN_ID + ".log",
    benchmark:
        RESULTS + "/benchmarks/evaluate/" + RUN_ID + ".tsv"
    conda:
        "../../envs/srloss.yaml"
    shell:
        "srloss evaluate --spec {params.spec:q} {params.checkpoint} --test-shard {input.test}"
        " --metrics {output.metrics} --record {output.record} > {log} 2>&1"
