# Train one (dataset, model, loss, scale, seed) run.
#
# checkpoint.pt (the resumable state, see srloss.checkpoint) lives in the run folder but is
# deliberately NOT an output: Snakemake deletes a job's declared outputs before running it
# (and after it fails), which would throw away the very state a retried or requeued job must
# resume from. The checkpoint carries a fingerprint of the run's spec and data, so a changed
# run never resumes from a stale one; after success it is removed (or kept, training.keep_checkpoint).
#
# Execution settings (training.threads, device, checkpoint_every, keep_checkpoint, log_every,
# tensorboard) change how a run executes, never its result, so they are not params (a params
# change reruns the job): the shell command reads them from TRAIN_EXECUTION, a global formatted
# at job time, which Snakemake's rerun triggers do not see.
from srloss.training.config import execution_settings

TRAIN_EXECUTION = to_json(execution_settings(config["training"]))
TRAIN_ON_GPU = config["training"]["device"] != "cpu"
TRAIN_GPU_RUN = "srloss gpu-run -- " if TRAIN_ON_GPU else ""  # one free GPU per job


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
    log:
        RESULTS + "/logs/train/" + RUN_ID + ".log",
    benchmark:
        RESULTS + "/benchmarks/train/" + RUN_ID + ".tsv"
    # a preempted (SIGTERM/SIGUSR1) or otherwise failed attempt is retried once; it resumes from checkpoint.pt
    retries: 1
    conda:
        "../../envs/srloss.yaml"
    threads: config["training"]["threads"]
    resources:
        gpu=1 if TRAIN_ON_GPU else 0,
    params:
        spec=run_spec_json,
        code=CODE["train"],
        checkpoint=RUN_DIR + "/checkpoint.pt",
        init=lambda w, input: f"--init-weights {input.init}" if "init" in input.keys() else "",
    # exec: srloss replaces the shell, so a preemption signal reaches the training process itself
    shell:
        "exec {TRAIN_GPU_RUN}srloss train --spec {params.spec:q} --train-shard {input.train} --val-shard {input.val}"
        " {params.init} --model {output.model} --best {output.best} --history {output.history} --record {output.record}"
        " --checkpoint {params.checkpoint:q} --execution {TRAIN_EXECUTION:q} --threads {threads} > {log} 2>&1"
