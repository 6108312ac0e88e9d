# Train one (dataset, model, loss, scale, seed) run.
#
# checkpoint.pt (the resumable state, see srloss.checkpoint) lives in the run folder but is
# deliberately NOT an output: Snakemake deletes a job's declared outputs before running it
# (and after it fails), which would throw away the very state a retried or requeued job must
# resume from. The checkpoint carries a fingerprint of the run's spec and data, so a changed
# run never resumes from a stale one; after success it is removed (or kept, training.keep_checkpoint).
def train_inputs(wildcards):
    inputs = {
        "train": RESULTS + f"/data/{wildcards.dataset}/x{wildcards.scale}/train.h5",
        "val": RESULTS + f"/data/{wildcards.dataset}/x{wildcards.scale}/val.h5",
    }
    weights = run_weight_files(wildcards)  # pretrained backbones of the loss (weights.smk)
    if weights:
        inputs["weights"] = weights
    init = study.init_run(run_of(wildcards))
    if init is not None:  # losses.<loss>.init_from: start from that run's generator
        inputs["init"] = RUN_DIR.format(**vars(init)) + "/model.pt"
    return inputs


rule train:
    input:
        unpack(train_inputs),
    output:
        model=RUN_DIR + "/model.pt",
        best=RUN_DIR + "/model_best.pt",
        history=RUN_DIR + "/history.csv",
        record=RUN_DIR + "/run.json",
    params:
        spec=run_spec_json,
        code=CODE["train"],
        checkpoint=RUN_DIR + "/checkpoint.pt",
        init=lambda w, input: f"--init-weights {input.init}" if "init" in input.keys() else "",
    threads: config["training"]["threads"]
    resources:
        gpu=1,
    # a preempted (SIGTERM/SIGUSR1) or otherwise failed attempt is retried once; it resumes from checkpoint.pt
    retries: 1
    log:
        RESULTS + "/logs/train/" + RUN_ID + ".log",
    benchmark:
        RESULTS + "/benchmarks/train/" + RUN_ID + ".tsv"
    conda:
        "../../envs/srloss.yaml"
    # exec: srloss replaces the shell, so a preemption signal reaches the training process itself
    shell:
        "exec srloss gpu-run -- srloss train --spec {params.spec:q} --train-shard {input.train} --val-shard {input.val} {params.init}"
        " --model {output.model} --best {output.best} --history {output.history} --record {output.record}"
        " --checkpoint {params.checkpoint:q} --threads {threads} > {log} 2>&1"
