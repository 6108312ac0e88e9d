# Budget curves (evaluation.steps): evaluate the generator weights each run saved at those steps,
# exactly as the evaluate rule evaluates its final weights, and draw the metrics against the step.
# Execution settings reach the command as $SRLOSS_EVAL_EXECUTION_<gpus> and $SRLOSS_EVAL_LAUNCH_<gpus> (common.smk).


from srloss.tuning import tuned_points

TUNED_POINTS = to_json(tuned_points(config["losses"]))  # point -> its loss, values and select_by


localrules:
    budget,


rule evaluate_step:
    input:
        unpack(step_weights),
    output:
        metrics=run_file("steps/{step}/metrics.csv"),
        record=run_file("steps/{step}/eval.json"),
    log:
        result(f"logs/evaluate_step/{RUN_ID}/step{{step}}.log"),
    benchmark:
        result(f"benchmarks/evaluate_step/{RUN_ID}/step{{step}}.tsv")
    wildcard_constraints:
        step="[0-9]+",
    conda:
        "../../envs/srloss.yaml"
    threads: 1
    resources:
        gpu=evaluation_gpus,  # unless evaluation.device: cpu (common.smk)
        mem_mb=8000,  # as evaluate
        runtime=60,  # minutes
    params:
        spec=run_spec_json,
        code=code_of("evaluate"),
        evaluation=evaluation_json,
    shell:
        "$SRLOSS_EVAL_LAUNCH_{resources.gpu} $SRLOSS_PYTHON -m srloss evaluate --spec {params.spec:q} --checkpoint {input.model}"
        " --test-shard {input.test} --evaluation {params.evaluation:q} --threads {threads}"
        " $SRLOSS_EVAL_EXECUTION_{resources.gpu}"
        " --metrics {output.metrics} --record {output.record} > {log} 2>&1"


rule budget:
    input:
        unpack(budget_inputs),
    output:
        table=result("tables/budget.csv"),
        ranking=result("tables/budget_ranking.csv"),
        figure=report(
            result("figures/budget.png"), caption="../report/budget.rst", category="2. Figures", subcategory="Budget"
        ),
        pdf=[result("figures/budget.pdf")] if FIGURES_PDF else [],  # evaluation.figures.pdf
    log:
        result("logs/budget.log"),
    benchmark:
        result("benchmarks/budget.tsv")
    conda:
        "../../envs/srloss.yaml"
    resources:
        gpu=0,
        mem_mb=2000,
        runtime=15,  # minutes
    params:
        code=CODE["budget"],
        alpha=config["evaluation"]["alpha"],
        final=lambda w, input: f"--final-metrics {' '.join(input.final)}" if "final" in input.keys() else "",
        tuned=(  # the tuned losses: each followed through the grid point selected on the validation split
            lambda w, input: (
                f"--tuned {shlex.quote(TUNED_POINTS)} --val-metrics {' '.join(input.val)}"
                if "val" in input.keys()
                else ""
            )
        ),
    shell:
        "$SRLOSS_PYTHON -m srloss budget --step-metrics {input.steps} {params.final} --records {input.records} --baselines {input.baselines}"
        " --table {output.table} --ranking {output.ranking} --alpha {params.alpha} --figures {output.figure} {output.pdf}"
        " {params.tuned} > {log} 2>&1"
