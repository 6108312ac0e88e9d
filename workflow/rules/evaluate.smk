# Evaluate one run (or an untrained baseline) on the test shard: per-image metrics and fixed crops;
# evaluate_on: the same on another dataset's test shard (datasets.<name>.test_on).
# Execution settings (evaluation.device, evaluation.batch_size) reach the command as
# $SRLOSS_EVAL_EXECUTION_<gpus> and $SRLOSS_EVAL_LAUNCH_<gpus> (common.smk), picked by the job's gpu
# resource, not as params: changing them reruns nothing.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=run_file("metrics.csv"),
        record=run_file("eval.json"),
        crops=run_file("crops.npz"),
    log:
        result(f"logs/evaluate/{RUN_ID}.log"),
    benchmark:
        result(f"benchmarks/evaluate/{RUN_ID}.tsv")
    conda:
        "../../envs/srloss.yaml"
    threads: 1
    resources:
        gpu=evaluation_gpus,  # a trained run unless evaluation.device: cpu (common.smk)
        mem_mb=8000,  # whole test images, the metrics' networks (LPIPS)
        runtime=60,  # minutes
    params:
        spec=run_spec_json,
        code=code_of("evaluate"),
        evaluation=evaluation_json,
        checkpoint=rule_function(lambda w, input: f"--checkpoint {input.model}" if "model" in input.keys() else ""),
    shell:
        "$SRLOSS_EVAL_LAUNCH_{resources.gpu} $SRLOSS_PYTHON -m srloss evaluate --spec {params.spec:q} {params.checkpoint}"
        " --test-shard {input.test} --evaluation {params.evaluation:q} --threads {threads}"
        " $SRLOSS_EVAL_EXECUTION_{resources.gpu} --metrics {output.metrics} --record {output.record} --crops {output.crops} > {log} 2>&1"


use rule evaluate as evaluate_on with:
    input:
        unpack(evaluate_on_inputs),
    output:
        metrics=f"{CROSS_DIR}/metrics.csv",
        record=f"{CROSS_DIR}/eval.json",
        crops=f"{CROSS_DIR}/crops.npz",
    log:
        result(f"logs/evaluate/{RUN_ID}/on/{{test_set}}.log"),
    benchmark:
        result(f"benchmarks/evaluate/{RUN_ID}/on/{{test_set}}.tsv")
    params:
        spec=run_spec_json,
        code=code_of("evaluate"),
        evaluation=evaluation_on_json,
        checkpoint=rule_function(lambda w, input: f"--checkpoint {input.model}" if "model" in input.keys() else ""),


# losses.<name>.tune: each grid point's runs are also measured on the validation split, where the
# aggregate job selects among the points (srloss.report.selection); the test split never selects.
rule evaluate_val:
    input:
        unpack(val_inputs),
    output:
        metrics=run_file("val/metrics.csv"),
        record=run_file("val/eval.json"),
    log:
        result(f"logs/evaluate_val/{RUN_ID}.log"),
    benchmark:
        result(f"benchmarks/evaluate_val/{RUN_ID}.tsv")
    conda:
        "../../envs/srloss.yaml"
    threads: 1
    resources:
        gpu=evaluation_gpus,
        mem_mb=8000,  # as evaluate
        runtime=60,  # minutes
    params:
        spec=run_spec_json,
        code=code_of("evaluate"),
        evaluation=evaluation_json,
    shell:
        "$SRLOSS_EVAL_LAUNCH_{resources.gpu} $SRLOSS_PYTHON -m srloss evaluate --spec {params.spec:q} --checkpoint {input.model}"
        " --test-shard {input.val} --evaluation {params.evaluation:q} --threads {threads}"
        " $SRLOSS_EVAL_EXECUTION_{resources.gpu} --metrics {output.metrics} --record {output.record} > {log} 2>&1"
