# Train one (dataset, model, loss, scale, seed) run.
#
# checkpoint.pt (the resumable state, see srloss.training.checkpoint) lives in the run folder but is
# deliberately NOT an output: Snakemake deletes a job's declared outputs before running it
# (and after it fails), which would throw away the very state a retried or requeued job must
# resume from. The checkpoint carries a fingerprint of the run's spec and data, so a changed
# run never resumes from a stale one; after success it is removed (or kept, training.keep_checkpoint).
#
# A finished run is never lost to a failed rerun: its files are update() outputs, which Snakemake
# leaves in place while the job runs (the job replaces each atomically at its end) and restores
# from its backup when the job fails. update() alone would then record the restored files as
# made by the new job; train.done, an ordinary output written last and an input of every rule
# that reads the run, is removed when the job fails, so the run stays due until a rerun succeeds.
#
# Execution settings reach the command as $SRLOSS_TRAIN_EXECUTION and $SRLOSS_TRAIN_LAUNCH
# (common.smk), not params: changing them reruns nothing.


rule train:
    input:
        unpack(train_inputs),
    output:
        model=update(run_file("model.pt")),
        best=update(run_file("model_best.pt")),
        history=update(run_file("history.csv")),
        record=update(run_file("run.json")),
        steps=[update(run_file(f"steps/{n}.pt")) for n in BUDGET_STEPS],  # evaluation.steps (budget.smk)
        done=run_file("train.done"),
    log:
        result(f"logs/train/{RUN_ID}.log"),
    benchmark:
        result(f"benchmarks/train/{RUN_ID}.tsv")
    # a preempted (SIGTERM/SIGUSR1) or otherwise failed attempt is retried once; it resumes from checkpoint.pt.
    # A user error (exit 3: a bad setting, an absent GPU) is not: the retry repeats its message at once.
    retries: 1
    conda:
        "../../envs/srloss.yaml"
    threads: config["training"]["threads"]  # also the CPUs SLURM gives the job (common.smk, resources)
    resources:
        gpu=1 if TRAIN_ON_GPU else 0,  # training.device: cpu asks for none
        mem_mb=16000,
        runtime=720,  # minutes; a longer study raises it in the profile (set-resources)
        attempt=rule_function(lambda w, attempt: attempt),  # for srloss train --attempt
    params:
        spec=run_spec_json,
        code=code_of("train"),
        checkpoint=run_file("checkpoint.pt"),
        init=rule_function(lambda w, input: f"--init-weights {input.init}" if "init" in input.keys() else ""),
    # exec: srloss replaces the shell, so a preemption signal reaches the training process itself
    shell:
        "exec $SRLOSS_TRAIN_LAUNCH $SRLOSS_PYTHON -m srloss train --spec {params.spec:q} --train-shard {input.train}"
        " --val-shard {input.val} {params.init} --model {output.model} --best {output.best}"
        " --history {output.history} --record {output.record} --done {output.done} --checkpoint {params.checkpoint:q}"
        ' --execution "$SRLOSS_TRAIN_EXECUTION" --threads {threads} --attempt {resources.attempt} > {log} 2>&1'
