# Pretrained feature extractors (torchvision ImageNet checkpoints) for the study's loss terms.
# `snakemake fetch_weights --cores 1` downloads exactly the files the config's losses need into
# <TORCH_HOME>/hub/checkpoints/ (torch hub's layout), on the machine that has internet, so
# training jobs elsewhere (e.g. SLURM nodes) find them. TORCH_HOME is resources/weights unless
# it is already set (common.smk); every job inherits it. Terms with `backbone_weights: random`
# need nothing. Which files a loss loads comes from the study (its loss terms declare their
# backbones), which caches the answer with its config check, so this parse imports no torch.


envvars:
    "TORCH_HOME",  # passed on to jobs on remote executors too


localrules:
    fetch_weights,
    fetch_weight,


rule fetch_weights:
    input:
        weight_files(study_backbones()),


rule fetch_weight:
    output:
        f"{WEIGHTS_DIR}/{{weight_file}}",
    log:
        result("logs/fetch_weight/{weight_file}.log"),
    benchmark:
        result("benchmarks/fetch_weight/{weight_file}.tsv")
    wildcard_constraints:
        weight_file=WEIGHT_FILE_PATTERN,
    conda:
        "../../envs/srloss.yaml"
    resources:
        mem_mb=2000,  # torch and one network
        runtime=30,  # minutes
    params:
        backbone=lambda w: BACKBONE_OF_FILE[w.weight_file],
        torch_home=lambda w, output: Path(output[0]).parents[2],  # <home>/hub/checkpoints/<file>
    shell:
        "$SRLOSS_PYTHON -m srloss fetch-weights {params.backbone} --torch-home {params.torch_home:q} > {log} 2>&1"
