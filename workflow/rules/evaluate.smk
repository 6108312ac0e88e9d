# Evaluate one run (or an untrained baseline) on the test shard: per-image metrics and fixed crops.
def evaluate_inputs(wildcards):
    inputs = {"test": RESULTS + f"/data/{wildcards.dataset}/x{wildcards.scale}/test.h5"}
    if study.is_trained(wildcards.model):
        inputs["model"] = RUN_DIR.format(**wildcards) + "/model.pt"
    return inputs


def evaluation_json(wildcards):
    return to_json(study.evaluation_spec(wildcards.dataset))


EVALUATE_ON_GPU = config["evaluation"]["device"] != "cpu"
# Execution-only settings (evaluation.device, evaluation.batch_size) reach the command through
# {EVAL_GPU_RUN} and {config[...]} in the shell text, not params: changing them reruns nothing.
EVAL_GPU_RUN = "srloss gpu-run --" if EVALUATE_ON_GPU else ""  # one free GPU per job, as for training


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=RUN_DIR + "/metrics.csv",
        record=RUN_DIR + "/eval.json",
        crops=RUN_DIR + "/crops.npz",
    log:
        RESULTS + "/logs/evaluate/" + RUN_ID + ".log",
    benchmark:
        RESULTS + "/benchmarks/evaluate/" + RUN_ID + ".tsv"
    conda:
        "../../envs/srloss.yaml"
    threads: 1
    resources:
        gpu=1 if EVALUATE_ON_GPU else 0,
    params:
        spec=run_spec_json,
        code=CODE["evaluate"],
        evaluation=evaluation_json,
        checkpoint=lambda w, input: f"--checkpoint {input.model}" if "model" in input.keys() else "",
    shell:
        "{EVAL_GPU_RUN} srloss evaluate --spec {params.spec:q} {params.checkpoint} --test-shard {input.test}"
        " --evaluation {params.evaluation:q} --threads {threads}"
        " --device {config[evaluation][device]} --batch-size {config[evaluation][batch_size]}"
        " --metrics {output.metrics} --record {output.record} --crops {output.crops} > {log} 2>&1"
